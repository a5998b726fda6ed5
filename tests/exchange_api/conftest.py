"""Fixtures of the API suite: an in-process app (TestClient) on a fresh database, without a chain."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dx_core.settings import Settings
from exchange_api.app import create_app


@pytest.fixture
def api_settings(tmp_path, database_url) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        deployment_file=tmp_path / "no-deployment.json",
        max_blob_bytes=64 * 1024,
        siwe_domain="testserver",
        chain_id=31337,
    )


@pytest.fixture
def app(api_settings):  # type: ignore[no-untyped-def]
    return create_app(api_settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c
