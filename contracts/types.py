"""Frozen dataclasses returned by the ledger bindings' reads, and the status enums."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from dx_core.roles import Role


class ListingStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    DELISTED = 2


class JobStatus(IntEnum):
    """ComputeJobs.Status: a job moves Requested -> Authorized -> Completed, or ends otherwise."""

    NONE = 0
    REQUESTED = 1
    AUTHORIZED = 2
    COMPLETED = 3
    DISPUTED = 4
    DECLINED = 5
    REFUNDED = 6


@dataclass(frozen=True)
class Member:
    address: str
    roles: Role
    suspended: bool
    admitted_at: int
    encryption_key: bytes
    metadata_cid: str

    def has(self, role: Role) -> bool:
        return not self.suspended and (self.roles & role) == role


@dataclass(frozen=True)
class Cluster:
    nodes: tuple[str, str, str]
    endpoints_cid: str
    spu_config_hash: bytes
    node_fee: int
    version: int


@dataclass(frozen=True)
class DatasetListing:
    id: int
    owner: str
    metadata_cid: str
    manifest_hash: bytes
    price_per_use: int
    max_uses: int
    uses: int
    expires_at: int
    min_cohort_size: int
    status: ListingStatus
    has_policy: bool


@dataclass(frozen=True)
class AlgorithmListing:
    id: int
    owner: str
    name: str
    version: str
    code_hash: bytes
    metadata_cid: str
    secret_params_hash: bytes
    price_per_use: int
    max_uses: int
    uses: int
    status: ListingStatus


@dataclass(frozen=True)
class JobTerms:
    """What a job commits to at request time; ComputeJobs stores only its hash (see jobs.py)."""

    dataset_ids: tuple[int, ...]
    algorithm_id: int
    owners: tuple[str, ...]
    prices: tuple[int, ...]
    node_fee: int
    program_hash: bytes
    params_hash: bytes
    result_receiver: str
    result_key: bytes

    @property
    def escrow(self) -> int:
        return sum(self.prices) + 3 * self.node_fee

    def as_tuple(self) -> tuple:
        return (
            list(self.dataset_ids),
            self.algorithm_id,
            list(self.owners),
            list(self.prices),
            self.node_fee,
            self.program_hash,
            self.params_hash,
            self.result_receiver,
            self.result_key,
        )


@dataclass(frozen=True)
class Attestation:
    job_id: int
    node: str
    node_index: int
    inputs_digest: bytes
    program_hash: bytes
    output_share_hash: bytes
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class Job:
    id: int
    buyer: str
    status: JobStatus
    deadline: int
    cluster_version: int
    pending_mask: int
    attested_mask: int
    destroyed_mask: int
    terms_hash: bytes
    terms: JobTerms
    request_block: int

    @property
    def dataset_ids(self) -> tuple[int, ...]:
        return self.terms.dataset_ids

    @property
    def algorithm_id(self) -> int:
        return self.terms.algorithm_id

    @property
    def program_hash(self) -> bytes:
        return self.terms.program_hash

    @property
    def escrow(self) -> int:
        return self.terms.escrow


@dataclass(frozen=True)
class Checkpoint:
    index: int
    tree_size: int
    root: bytes
    timestamp: int
    block_number: int
