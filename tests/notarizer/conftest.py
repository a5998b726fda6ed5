"""Fixtures of the notarizer suite: a fresh log per test and the chain reverted after each test."""

from __future__ import annotations

import pytest

from notarizer.log import TransparencyLog, create_tables


@pytest.fixture
def tlog(db_engine) -> TransparencyLog:
    create_tables(db_engine)
    return TransparencyLog(db_engine)


@pytest.fixture
def fresh_chain(chain_snapshot, ledger):
    """The session ledger, with the chain reverted to its state before the test afterwards."""
    return ledger
