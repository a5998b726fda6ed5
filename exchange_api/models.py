"""SQLModel tables of the exchange service: a cache of the chain plus off-chain workflow state."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, String, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Member(SQLModel, table=True):
    """A registry member as last seen on-chain (addresses are stored checksummed)."""

    __tablename__ = "member"
    address: str = Field(primary_key=True, max_length=42)
    roles: int = Field(default=0, index=True)
    encryption_key: str | None = Field(default=None, max_length=130)
    active: bool = True
    block_number: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class Listing(SQLModel, table=True):
    """A dataset or algorithm listing; `kind` + `listing_id` is the on-chain identity."""

    __tablename__ = "listing"
    __table_args__ = (
        UniqueConstraint("kind", "listing_id", name="uq_listing_kind_id"),
        Index("ix_listing_kind_status_id", "kind", "status", "listing_id"),
        Index("ix_listing_kind_status_price", "kind", "status", "price_sort"),
        Index("ix_listing_kind_status_owner_id", "kind", "status", "owner", "listing_id"),
        Index("ix_listing_kind_status_title", "kind", "status", "title"),
    )
    pk: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # "dataset" | "algorithm"
    listing_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    owner: str = Field(max_length=42)
    metadata_cid: str = Field(max_length=80)
    manifest_hash: str = Field(default="", max_length=66)  # 0x-hex bytes32 (code hash for algorithms)
    price_wei: str = Field(default="0", max_length=78)  # exact uint256 as a decimal string
    price_sort: float = 0.0  # the same price as a float, for range filters and sorting
    max_uses: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    uses: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    expires_at: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    status: str = Field(default="active", max_length=16)  # active | delisted
    title: str = Field(default="", max_length=300)
    description: str = Field(default="")
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    columns: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    search_text: str = Field(default="")  # lower-cased title + description + tags + columns
    extra: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_block: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    updated_block: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class CatalogMeta(SQLModel, table=True):
    """One row: a counter every listing write bumps, so readers can tell cheaply that the catalog changed."""

    __tablename__ = "catalog_meta"
    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class ListingTag(SQLModel, table=True):
    """One tag of a listing; its own table so tag filters use an index instead of scanning JSON."""

    __tablename__ = "listing_tag"
    listing_pk: int = Field(foreign_key="listing.pk", primary_key=True, ondelete="CASCADE")
    tag: str = Field(primary_key=True, max_length=64, index=True)


class ListingToken(SQLModel, table=True):
    """Inverted index of the words of a listing's searchable text: prefix search by index range scans.

    Keyed (token, listing) so that a word's postings are one contiguous index range; binary collation
    on PostgreSQL so that the prefix range [w, w') is byte order there too.
    """

    __tablename__ = "listing_token"
    __table_args__ = (Index("ix_listing_token_listing_pk", "listing_pk"),)
    token: str = Field(
        sa_column=Column(String(64).with_variant(String(64, collation="C"), "postgresql"), primary_key=True)
    )
    listing_pk: int = Field(foreign_key="listing.pk", primary_key=True, ondelete="CASCADE")


class ListingColumn(SQLModel, table=True):
    """One schema column of a dataset listing, for the `column` filter."""

    __tablename__ = "listing_column"
    listing_pk: int = Field(foreign_key="listing.pk", primary_key=True, ondelete="CASCADE")
    name: str = Field(primary_key=True, max_length=128, index=True)
    dtype: str = Field(default="", max_length=32)


class Job(SQLModel, table=True):
    """A compute contract as last seen on-chain."""

    __tablename__ = "job"
    job_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    buyer: str = Field(max_length=42, index=True)
    algorithm_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    dataset_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    param_hash: str = Field(default="", max_length=66)
    program_hash: str = Field(default="", max_length=66)
    result_key: str = Field(default="", max_length=130)
    payment_wei: str = Field(default="0", max_length=78)
    owners: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    pending_mask: int = 0  # bit i set while input i (datasets in order, then the algorithm) awaits approval
    cluster_version: int = 0
    terms: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # calldata for relays
    deadline: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    status: str = Field(default="requested", max_length=16, index=True)
    authorized_block: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    created_block: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    updated_block: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class JobInput(SQLModel, table=True):
    """A listing a job uses, so a seller finds the requests for its own listings with one join."""

    __tablename__ = "job_input"
    job_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(primary_key=True, max_length=16)
    listing_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    owner: str = Field(default="", max_length=42, index=True)


class Approval(SQLModel, table=True):
    """An owner's EIP-712 approval (or decline) of a job: verified off-chain, then relayed in a batch."""

    __tablename__ = "approval"
    __table_args__ = (UniqueConstraint("owner", "nonce", name="uq_approval_owner_nonce"),)
    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    owner: str = Field(max_length=42)
    decision: str = Field(default="approve", max_length=8)  # approve | decline
    signature: str = Field(max_length=200)
    nonce: str = Field(max_length=80)  # uint256 as a decimal string
    deadline: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="verified", max_length=16)  # verified | relayed | onchain | failed
    tx_hash: str | None = Field(default=None, max_length=66)
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Attestation(SQLModel, table=True):
    """A compute node's result attestation or destruction receipt, as indexed from the chain."""

    __tablename__ = "attestation"
    __table_args__ = (UniqueConstraint("job_id", "node", "kind", name="uq_attestation"),)
    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    node: str = Field(max_length=42)
    kind: str = Field(max_length=16)  # result | destruction
    inputs_digest: str = Field(default="", max_length=66)
    program_hash: str = Field(default="", max_length=66)
    output_share_hash: str = Field(default="", max_length=66)
    node_index: int = 0
    receipt_hash: str = Field(default="", max_length=66)  # destruction receipts
    tx_hash: str = Field(max_length=66)
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False))


class ChainEvent(SQLModel, table=True):
    """Every event the indexer applied; (tx hash, log index) makes re-indexing idempotent."""

    __tablename__ = "chain_event"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index", name="uq_chain_event"),)
    id: int | None = Field(default=None, primary_key=True)
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    block_hash: str = Field(max_length=66)
    tx_hash: str = Field(max_length=66)
    log_index: int
    contract: str = Field(max_length=32)
    name: str = Field(max_length=64, index=True)
    args: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class IndexedBlock(SQLModel, table=True):
    """Hash of each recently indexed block, re-checked to detect a reorg or a restarted chain."""

    __tablename__ = "indexed_block"
    number: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: str = Field(max_length=66)


class IndexerState(SQLModel, table=True):
    """Where the indexer stopped: the last processed block and its hash."""

    __tablename__ = "indexer_state"
    id: int = Field(default=1, primary_key=True)
    chain_id: int = 0
    last_block: int = Field(default=-1, sa_column=Column(BigInteger, nullable=False, default=-1))
    last_hash: str = Field(default="", max_length=66)
    head_block: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    updated_at: datetime = Field(default_factory=utcnow)


class PendingTx(SQLModel, table=True):
    """A transaction the API relayed or was told about; `status` never claims more than the chain shows."""

    __tablename__ = "pending_tx"
    tx_hash: str = Field(primary_key=True, max_length=66)
    sender: str = Field(max_length=42, index=True)
    kind: str = Field(default="", max_length=32)  # e.g. createDataset, requestJob, approveBatch
    status: str = Field(default="pending", max_length=16)  # pending | mined | reverted | failed
    error: str | None = None
    block_number: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = Field(default_factory=utcnow)


class AuthNonce(SQLModel, table=True):
    """A SIWE nonce the API issued; single use."""

    __tablename__ = "auth_nonce"
    nonce: str = Field(primary_key=True, max_length=64)
    issued_at: datetime = Field(default_factory=utcnow, index=True)  # the purge of expired nonces
    used_at: datetime | None = None


class AuthToken(SQLModel, table=True):
    """A bearer token (only its sha256 is stored) bound to the address that signed in."""

    __tablename__ = "auth_token"
    token_hash: str = Field(primary_key=True, max_length=64)
    address: str = Field(max_length=42, index=True)
    expires_at: datetime = Field(index=True)  # the purge of expired tokens
    created_at: datetime = Field(default_factory=utcnow)


class IdempotencyRecord(SQLModel, table=True):
    """The stored response of a write sent with an Idempotency-Key, replayed for the same key and body."""

    __tablename__ = "idempotency_record"
    actor: str = Field(primary_key=True, max_length=64)  # sha256 of the Authorization header ("" if none)
    key: str = Field(primary_key=True, max_length=200)
    method: str = Field(max_length=8)
    path: str = Field(max_length=500)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None  # None while the first request is still running
    content_type: str = Field(default="application/json", max_length=100)
    body: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, default=b""))
    created_at: datetime = Field(default_factory=utcnow, index=True)  # records expire (purge by age)


class BlobUpload(SQLModel, table=True):
    """A blob a member uploaded through the API: what its quota counts and what the collector may delete."""

    __tablename__ = "blob_upload"
    cid: str = Field(primary_key=True, max_length=80)
    uploader: str = Field(primary_key=True, max_length=42, index=True)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class RateBucket(SQLModel, table=True):
    """A token bucket of a rate limit, shared by every API worker on the database (`upload:ip:<addr>`)."""

    __tablename__ = "rate_bucket"
    key: str = Field(primary_key=True, max_length=200)
    tokens: float = 0.0
    updated: float = 0.0  # unix seconds of the last refill


class RelayClaim(SQLModel, table=True):
    """The one claim on relaying a job's approveBatch: of two workers, the one that inserts it relays."""

    __tablename__ = "relay_claim"
    job_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    status: str = Field(default="relaying", max_length=16)  # relaying | relayed | failed
    tx_hash: str | None = Field(default=None, max_length=66)
    result: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = None
    claimed_at: datetime = Field(default_factory=utcnow)
