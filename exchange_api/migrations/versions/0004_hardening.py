"""Hardening tables: blob uploads (quota, garbage collection), rate-limit buckets, the approveBatch relay
claim, and indexes for the purge of expired nonces, tokens and idempotency records.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PURGE_INDEXES = (
    ("auth_nonce", "issued_at"),
    ("auth_token", "expires_at"),
    ("idempotency_record", "created_at"),
)


def upgrade() -> None:
    op.create_table(
        "blob_upload",
        sa.Column("cid", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("uploader", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("cid", "uploader"),
    )
    with op.batch_alter_table("blob_upload", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blob_upload_uploader"), ["uploader"], unique=False)
        batch_op.create_index(batch_op.f("ix_blob_upload_created_at"), ["created_at"], unique=False)
    op.create_table(
        "rate_bucket",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "relay_claim",
        sa.Column("job_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tx_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )
    for table, column in _PURGE_INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def downgrade() -> None:
    for table, column in _PURGE_INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
    op.drop_table("relay_claim")
    op.drop_table("rate_bucket")
    with op.batch_alter_table("blob_upload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blob_upload_created_at"))
        batch_op.drop_index(batch_op.f("ix_blob_upload_uploader"))
    op.drop_table("blob_upload")
