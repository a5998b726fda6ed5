"""Initial schema of the exchange service: members, listings, jobs, approvals, indexer and auth state.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27 06:18:41.020254
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tx_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "nonce", name="uq_approval_owner_nonce"),
    )
    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approval_job_id"), ["job_id"], unique=False)

    op.create_table(
        "attestation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("node", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("inputs_digest", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("program_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("output_share_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("node_index", sa.Integer(), nullable=False),
        sa.Column("receipt_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("tx_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "node", "kind", name="uq_attestation"),
    )
    with op.batch_alter_table("attestation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attestation_job_id"), ["job_id"], unique=False)

    op.create_table(
        "auth_nonce",
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("issued_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_table(
        "auth_token",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("auth_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_token_address"), ["address"], unique=False)

    op.create_table(
        "chain_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("tx_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("contract", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tx_hash", "log_index", name="uq_chain_event"),
    )
    with op.batch_alter_table("chain_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_event_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_chain_event_name"), ["name"], unique=False)

    op.create_table(
        "idempotency_record",
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("actor", "key"),
    )
    op.create_table(
        "indexed_block",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_table(
        "indexer_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("head_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "job",
        sa.Column("job_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("buyer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("algorithm_id", sa.BigInteger(), nullable=False),
        sa.Column("dataset_ids", sa.JSON(), nullable=False),
        sa.Column("param_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("program_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("result_key", sqlmodel.sql.sqltypes.AutoString(length=130), nullable=False),
        sa.Column("payment_wei", sqlmodel.sql.sqltypes.AutoString(length=78), nullable=False),
        sa.Column("owners", sa.JSON(), nullable=False),
        sa.Column("pending_mask", sa.Integer(), nullable=False),
        sa.Column("cluster_version", sa.Integer(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("authorized_block", sa.BigInteger(), nullable=True),
        sa.Column("created_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_authorized_block"), ["authorized_block"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_buyer"), ["buyer"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_status"), ["status"], unique=False)

    op.create_table(
        "job_input",
        sa.Column("job_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("listing_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "kind", "listing_id"),
    )
    with op.batch_alter_table("job_input", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_input_owner"), ["owner"], unique=False)

    op.create_table(
        "listing",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("listing_id", sa.BigInteger(), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("metadata_cid", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("manifest_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("price_wei", sqlmodel.sql.sqltypes.AutoString(length=78), nullable=False),
        sa.Column("price_sort", sa.Float(), nullable=False),
        sa.Column("max_uses", sa.BigInteger(), nullable=False),
        sa.Column("uses", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("search_text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("kind", "listing_id", name="uq_listing_kind_id"),
    )
    with op.batch_alter_table("listing", schema=None) as batch_op:
        batch_op.create_index(
            "ix_listing_kind_status_owner_id", ["kind", "status", "owner", "listing_id"], unique=False
        )
        batch_op.create_index("ix_listing_kind_status_id", ["kind", "status", "listing_id"], unique=False)
        batch_op.create_index("ix_listing_kind_status_price", ["kind", "status", "price_sort"], unique=False)
        batch_op.create_index("ix_listing_kind_status_title", ["kind", "status", "title"], unique=False)

    op.create_table(
        "member",
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("roles", sa.Integer(), nullable=False),
        sa.Column("encryption_key", sqlmodel.sql.sqltypes.AutoString(length=130), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("address"),
    )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_roles"), ["roles"], unique=False)

    op.create_table(
        "pending_tx",
        sa.Column("tx_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash"),
    )
    with op.batch_alter_table("pending_tx", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_tx_sender"), ["sender"], unique=False)

    op.create_table(
        "listing_column",
        sa.Column("listing_pk", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("dtype", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(["listing_pk"], ["listing.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("listing_pk", "name"),
    )
    with op.batch_alter_table("listing_column", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listing_column_name"), ["name"], unique=False)

    op.create_table(
        "listing_tag",
        sa.Column("listing_pk", sa.Integer(), nullable=False),
        sa.Column("tag", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["listing_pk"], ["listing.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("listing_pk", "tag"),
    )
    with op.batch_alter_table("listing_tag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listing_tag_tag"), ["tag"], unique=False)

    op.create_table(
        "listing_token",
        sa.Column(
            "token",
            sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("listing_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["listing_pk"], ["listing.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token", "listing_pk"),
    )
    with op.batch_alter_table("listing_token", schema=None) as batch_op:
        batch_op.create_index("ix_listing_token_listing_pk", ["listing_pk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("listing_token", schema=None) as batch_op:
        batch_op.drop_index("ix_listing_token_listing_pk")

    op.drop_table("listing_token")
    with op.batch_alter_table("listing_tag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listing_tag_tag"))

    op.drop_table("listing_tag")
    with op.batch_alter_table("listing_column", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listing_column_name"))

    op.drop_table("listing_column")
    with op.batch_alter_table("pending_tx", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_tx_sender"))

    op.drop_table("pending_tx")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_roles"))

    op.drop_table("member")
    with op.batch_alter_table("listing", schema=None) as batch_op:
        batch_op.drop_index("ix_listing_kind_status_title")
        batch_op.drop_index("ix_listing_kind_status_price")
        batch_op.drop_index("ix_listing_kind_status_id")
        batch_op.drop_index("ix_listing_kind_status_owner_id")

    op.drop_table("listing")
    with op.batch_alter_table("job_input", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_input_owner"))

    op.drop_table("job_input")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_status"))
        batch_op.drop_index(batch_op.f("ix_job_buyer"))
        batch_op.drop_index(batch_op.f("ix_job_authorized_block"))

    op.drop_table("job")
    op.drop_table("indexer_state")
    op.drop_table("indexed_block")
    op.drop_table("idempotency_record")
    with op.batch_alter_table("chain_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_event_name"))
        batch_op.drop_index(batch_op.f("ix_chain_event_block_number"))

    op.drop_table("chain_event")
    with op.batch_alter_table("auth_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_token_address"))

    op.drop_table("auth_token")
    op.drop_table("auth_nonce")
    with op.batch_alter_table("attestation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attestation_job_id"))

    op.drop_table("attestation")
    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_job_id"))

    op.drop_table("approval")
