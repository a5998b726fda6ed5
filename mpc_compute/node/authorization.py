"""Whether a node may run a job and what the job commits to: on-chain, or (no chain) the trigger's word.

`Authorization.authorize(job_id, claim)` returns the `JobRecord` the node executes against: the
public-parameter hash (the job spec's sha256), the program hash, the result receiver's X25519 key
and the input manifest hashes the chain names. `ChainAuthorization` reads all of it from the
ledger's ComputeJobs / Market contracts and refuses jobs that are not Authorized. Deployments
without a chain (local development, tests of the compute layer alone) use `TriggerAuthorization`,
which takes the claim sent with POST /jobs/{id}/run at its word; it is never used when the node has
a chain configured.

Jobs start from POST /jobs/{id}/run or from a `JobSource` (chain.ChainJobSource follows JobAuthorized).
Attestations go to an `AttestationSink`: `ChainSink` submits them through Ledger.jobs; without a
chain, `LocalSink` keeps them only in the job status (they are signed either way). The sink also
reports the job's on-chain status, deadline and the chain clock (`job_state`), which the node uses to
refuse jobs too close to their deadline and to publish an output only once the job is COMPLETED.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mpc_compute.attestation import Attestation, DestructionReceipt


class NotAuthorized(Exception):
    """The job does not exist, is not authorized, or its claim is malformed."""


@dataclass(frozen=True)
class JobRecord:
    job_id: int
    params_hash: bytes
    program_hash: bytes
    receiver_key: bytes | None = None
    receiver_address: str | None = None
    # (kind, listing id) -> manifest hash the chain commits to; None: no chain, the spec's word
    listings: dict[tuple[str, int], bytes] | None = None
    # check(spec, manifests, fetch) raising mpc_compute.policy.PolicyViolation, returning {dataset listing
    # id: ListingFacts}; None: no chain, no policies
    policy_check: Callable[..., dict] | None = None
    # what the node attests it enforced: the digest of the dataset policy hashes the job binds
    policy_digest: bytes | None = None
    # who bought the job (the differencing guard's `buyer` scope); None: no chain
    buyer: str | None = None


class Authorization(Protocol):
    def authorize(self, job_id: int, claim: dict | None) -> JobRecord: ...


class JobSource(Protocol):
    """Something that starts jobs on the node besides POST /jobs/{id}/run (e.g. a chain watcher)."""

    def start(self, service) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class ChainJob:
    """What the chain says about a job now: its status name, its deadline and the chain's clock (unix s)."""

    status: str
    deadline: int
    now: int


class AttestationSink(Protocol):
    def attest(self, attestation: Attestation) -> dict | None: ...

    def destroyed(self, receipt: DestructionReceipt) -> dict | None: ...

    def job_state(self, job_id: int) -> ChainJob | None:
        """The job on-chain (NotAuthorized if it does not exist); None when the node has no chain."""
        ...


def _hex32(claim: dict, key: str) -> bytes:
    try:
        value = bytes.fromhex(str(claim[key]).removeprefix("0x"))
    except KeyError:
        raise NotAuthorized(f"the trigger did not send {key}") from None
    except ValueError:
        raise NotAuthorized(f"{key} is not hex") from None
    if len(value) != 32:
        raise NotAuthorized(f"{key} must be 32 bytes, got {len(value)}")
    return value


class TriggerAuthorization:
    """No chain: the trigger's claim {params_hash, program_hash} is the job (development only)."""

    def authorize(self, job_id: int, claim: dict | None) -> JobRecord:
        if not claim:
            raise NotAuthorized(
                f"job {job_id}: without a chain the trigger must send params_hash and program_hash"
            )
        return JobRecord(job_id, _hex32(claim, "params_hash"), _hex32(claim, "program_hash"))


class LocalSink:
    """No chain: attestations live in the job status only."""

    def attest(self, attestation: Attestation) -> dict | None:
        return None

    def destroyed(self, receipt: DestructionReceipt) -> dict | None:
        return None

    def job_state(self, job_id: int) -> ChainJob | None:
        return None
