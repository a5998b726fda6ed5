"""The log's tables in the shared SQLModel metadata (all prefixed `log_`), and `create_tables`."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Engine, Index, Integer, LargeBinary, String, Text, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel


class LogState(SQLModel, table=True):
    """One row (id = 1): the tree size. Appenders lock this row, which serializes sequence numbers."""

    __tablename__ = "log_state"
    id: int = Field(default=1, primary_key=True)
    size: int = Field(default=0, sa_type=BigInteger)


class LogEntryRow(SQLModel, table=True):
    """An entry; `subjects` and `payload` are canonical JSON text (payload NULL when withheld)."""

    __tablename__ = "log_entries"
    __table_args__ = (
        Index("ix_log_entries_kind_seq", "kind", "seq"),
        Index("ix_log_entries_actor_seq", "actor", "seq"),
        Index("ix_log_entries_time", "time_us"),
    )
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    time_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    actor: str = Field(sa_column=Column(String(128), nullable=False))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    subjects: str = Field(sa_column=Column(Text, nullable=False))
    payload_hash: str = Field(sa_column=Column(String(64), nullable=False))
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class LogSubject(SQLModel, table=True):
    """Index from a subject id ("job:7", "dataset:3", "member:0x...") to the entries that name it."""

    __tablename__ = "log_subjects"
    subject: str = Field(sa_column=Column(String(160), primary_key=True))
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))


class LogNode(SQLModel, table=True):
    """Hash of a complete (perfect) subtree; id = level << 48 | index (see notarizer.proofs.node_id)."""

    __tablename__ = "log_nodes"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class LogCheckpoint(SQLModel, table=True):
    """A checkpoint anchored on the Notary: `idx` is its on-chain index."""

    __tablename__ = "log_checkpoints"
    idx: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root: str = Field(sa_column=Column(String(64), nullable=False))
    tx_hash: str | None = Field(default=None, sa_column=Column(String(66), nullable=True))
    block_number: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    anchored_at_us: int = Field(sa_column=Column(BigInteger, nullable=False))


LOG_TABLES = [t.__table__ for t in (LogState, LogEntryRow, LogSubject, LogNode, LogCheckpoint)]


def create_tables(engine: Engine) -> None:
    """Create the log's tables if missing and the single state row (idempotent).

    For standalone use (tests, benchmarks, a bare database): the exchange's database gets these tables
    from its Alembic migration 0003, and on such a database this finds everything in place.
    """
    SQLModel.metadata.create_all(engine, tables=LOG_TABLES, checkfirst=True)
    state = LogState.__table__
    try:
        with engine.begin() as conn:
            if conn.execute(select(state.c.id).where(state.c.id == 1)).first() is None:
                conn.execute(insert(state).values(id=1, size=0))
    except IntegrityError:
        pass  # another process created the row between our check and insert
