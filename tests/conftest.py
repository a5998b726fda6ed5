"""Shared test fixtures: each component's fixtures live in tests/fixtures/ and are registered here."""

pytest_plugins: list[str] = [
    "tests.fixtures.database",
    "tests.fixtures.cluster",
    "tests.fixtures.chain",
    "tests.fixtures.api",
]
