"""The test suite: one package per component, shared fixtures in tests/fixtures."""
