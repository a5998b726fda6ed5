"""Frozen dataclasses returned by the ledger bindings' reads, and the status enums."""

from __future__ import annotations

import hashlib
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
    REFUSED = 7


def policy_digest(policy_hashes: tuple[bytes, ...] | list[bytes]) -> bytes:
    """sha256("dx-policies/v1" || hashes): a job's dataset policies' digest (ComputeJobs.policyDigestOf)."""
    return hashlib.sha256(b"dx-policies/v1" + b"".join(bytes(h) for h in policy_hashes)).digest()


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
    policy_hash: bytes
    status: ListingStatus
    has_policy: bool


MICRO_EPS = 1_000_000
"""Micro-ε per ε: privacy budgets travel on-chain as integers (uint64) of this unit."""


def to_micro_eps(epsilon: float) -> int:
    """ε as the integer micro-ε the contracts take (rounded to the nearest unit, never negative)."""
    if epsilon < 0:
        raise ValueError(f"ε must not be negative, got {epsilon}")
    return round(epsilon * MICRO_EPS)


@dataclass(frozen=True)
class PrivacyBudget:
    """A dataset's differential-privacy budget (Market.privacyBudgetOf), in micro-ε; total 0: none."""

    dataset_id: int
    total_micro_eps: int
    per_job_micro_eps: int
    spent_micro_eps: int

    @property
    def enabled(self) -> bool:
        return self.total_micro_eps > 0

    @property
    def left_micro_eps(self) -> int:
        return self.total_micro_eps - self.spent_micro_eps

    @property
    def total(self) -> float:
        return self.total_micro_eps / MICRO_EPS

    @property
    def per_job(self) -> float:
        return self.per_job_micro_eps / MICRO_EPS

    @property
    def spent(self) -> float:
        return self.spent_micro_eps / MICRO_EPS

    @property
    def left(self) -> float:
        return self.left_micro_eps / MICRO_EPS

    def describe(self) -> str:
        """One line for people: "ε 1.0 total, 0.4 per job, 0.4 spent, 0.6 left" (or "none")."""
        if not self.enabled:
            return "none"
        return (
            f"ε {_eps(self.total_micro_eps)} total, {_eps(self.per_job_micro_eps)} per job, "
            f"{_eps(self.spent_micro_eps)} spent, {_eps(self.left_micro_eps)} left"
        )


def _eps(micro: int) -> str:
    # Exact decimal of an integer micro-ε amount: float formatting would print 0.6000000000000001.
    whole, frac = divmod(micro, MICRO_EPS)
    digits = f"{frac:06d}".rstrip("0") or "0"
    return f"{whole}.{digits}"


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
    policy_hashes: tuple[bytes, ...] = ()

    @property
    def escrow(self) -> int:
        return sum(self.prices) + 3 * self.node_fee

    @property
    def policy_digest(self) -> bytes:
        """What each node attests it enforced: ComputeJobs.policyDigestOf(policyHashes)."""
        return policy_digest(self.policy_hashes)

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
            list(self.policy_hashes),
        )


@dataclass(frozen=True)
class Attestation:
    job_id: int
    node: str
    node_index: int
    inputs_digest: bytes
    program_hash: bytes
    output_share_hash: bytes
    policy_digest: bytes
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
