"""The Alembic migrations build exactly the schema the models describe, and run down and up again."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from exchange_api.db import alembic_config, make_engine, upgrade_head
from notarizer.log import TransparencyLog, create_tables

pytestmark = [pytest.mark.api, pytest.mark.database]


def test_migrations_match_the_models_and_round_trip(database_url) -> None:
    engine = make_engine(database_url)
    try:
        upgrade_head(engine)
        upgrade_head(engine)  # idempotent: a second start finds the schema at head
        command.check(alembic_config(engine))  # raises if the models and the migrations differ
        tables = set(inspect(engine).get_table_names())
        assert {"listing", "listing_token", "job", "approval", "chain_event", "indexer_state"} <= tables
        command.downgrade(alembic_config(engine), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade_head(engine)
        assert "listing" in set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migration_0003_keeps_a_log_made_before_it(database_url) -> None:
    # A database from before 0003: the exchange's tables at 0002, the log's made by create_tables.
    engine = make_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0002")
        create_tables(engine)
        entry = TransparencyLog(engine).append("listing.created", "actor", ["listing:1"], {"n": 1})
        root = TransparencyLog(engine).root()
        upgrade_head(engine)  # 0003 finds the log_* tables and leaves them as they are
        log = TransparencyLog(engine)
        assert log.size() == 1
        assert log.entry(0) == entry
        assert log.root() == root
        command.check(alembic_config(engine))  # the kept tables are still what the models describe
    finally:
        engine.dispose()
