"""Database engine and schema migrations (Alembic `upgrade head` at start)."""

from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, pool_size: int = 20) -> Engine:
    """An engine tuned for the API: SQLite in WAL mode with a busy timeout, PostgreSQL with a pool."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # WAL lets readers run while the indexer or the notarizer writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # Catalog reads touch most of the listing pages: keep them in this connection's cache (64 MiB)
            # and map the file, instead of copying pages from the OS cache on every query.
            cur.execute("PRAGMA cache_size=-65536")
            cur.execute("PRAGMA mmap_size=268435456")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def alembic_config(engine: Engine | None = None, url: str | None = None) -> Config:
    """An Alembic config that works from any working directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade_head(engine: Engine, attempts: int = 5) -> None:
    """Bring the schema to the newest migration (a no-op when it is already there).

    Several uvicorn workers start at once and may race to create the schema; the loser's DDL fails on
    the tables the winner just made, and its retry then finds the schema at head.
    """
    for attempt in range(attempts):
        try:
            command.upgrade(alembic_config(engine), "head")
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + attempt)
