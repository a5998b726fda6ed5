"""Transparency log tables (log_*), exactly as notarizer.tables declares them, and the log's state row.

Databases made before this revision already hold these tables (notarizer.log.create_tables made them at
start-up): a table that exists is left as it is, so upgrading such a database keeps its log.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("log_state"):
        state = op.create_table(
            "log_state",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("size", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        # Appenders lock this one row; the log refuses to work without it.
        op.bulk_insert(state, [{"id": 1, "size": 0}])
    if _missing("log_entries"):
        op.create_table(
            "log_entries",
            sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("time_us", sa.BigInteger(), nullable=False),
            sa.Column("actor", sa.String(length=128), nullable=False),
            sa.Column("kind", sa.String(length=64), nullable=False),
            sa.Column("subjects", sa.Text(), nullable=False),
            sa.Column("payload_hash", sa.String(length=64), nullable=False),
            sa.Column("payload", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("seq"),
        )
        with op.batch_alter_table("log_entries", schema=None) as batch_op:
            batch_op.create_index("ix_log_entries_actor_seq", ["actor", "seq"], unique=False)
            batch_op.create_index("ix_log_entries_kind_seq", ["kind", "seq"], unique=False)
            batch_op.create_index("ix_log_entries_time", ["time_us"], unique=False)
    if _missing("log_subjects"):
        op.create_table(
            "log_subjects",
            sa.Column("subject", sa.String(length=160), nullable=False),
            sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.PrimaryKeyConstraint("subject", "seq"),
        )
    if _missing("log_nodes"):
        op.create_table(
            "log_nodes",
            sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if _missing("log_checkpoints"):
        op.create_table(
            "log_checkpoints",
            sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("tree_size", sa.BigInteger(), nullable=False),
            sa.Column("root", sa.String(length=64), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=True),
            sa.Column("block_number", sa.BigInteger(), nullable=True),
            sa.Column("anchored_at_us", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("idx"),
        )


def downgrade() -> None:
    """Drops the log_* tables, even ones upgrade found already made: a downgrade deletes the log."""
    op.drop_table("log_checkpoints")
    op.drop_table("log_nodes")
    op.drop_table("log_subjects")
    with op.batch_alter_table("log_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_log_entries_time")
        batch_op.drop_index("ix_log_entries_kind_seq")
        batch_op.drop_index("ix_log_entries_actor_seq")
    op.drop_table("log_entries")
    op.drop_table("log_state")
