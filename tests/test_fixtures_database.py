"""The database fixture gives a working, empty database on either backend."""

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.database


def test_database_round_trip(db_engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, v TEXT)"))
        conn.execute(text("INSERT INTO probe (id, v) VALUES (1, 'x')"))
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT v FROM probe WHERE id = 1")).scalar_one() == "x"
