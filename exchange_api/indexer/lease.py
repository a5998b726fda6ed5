"""Which worker runs the background indexer: one holder of a lock per database, the others stand by.

Every uvicorn worker starts the indexer loop; only the lease holder indexes, so workers do not do the
same work twice (if they did, the unique (tx hash, log index) key would still keep the tables right).
PostgreSQL: a session advisory lock, held across hosts. SQLite: an flock on a file next to the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from dx_core.locks import try_lock, unlock

ADVISORY_KEY = 0x4458494E44455852  # "DXINDEXR"


class IndexerLease:
    """This process's claim to be the indexing worker: `acquire` never blocks, `release` gives it up."""

    def __init__(self, engine: Engine, lock_dir: Path) -> None:
        self.engine = engine
        self.lock_path = Path(lock_dir) / "indexer.lock"
        self._conn: Any = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def acquire(self) -> bool:
        """Take the lease if it is free (never blocks); True while this process holds it."""
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            if conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar():
                self._conn = conn
                return True
            conn.close()
            return False
        self._fd = try_lock(self.lock_path)
        return self._fd is not None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            unlock(self._fd)
            self._fd = None
