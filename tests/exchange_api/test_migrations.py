"""The Alembic migrations build exactly the schema the models describe, and run down and up again."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from exchange_api.db import alembic_config, make_engine, upgrade_head

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
