"""The output client: check what each node attested, fetch and open its sealed output share, reconstruct.

Run by the job's result receiver. What a node attested comes from one of two vouchers:
- on a chain, its JobAttested event (`Ledger.jobs.attestations(job_id)`, a `contracts.types.Attestation`):
  the chain is the authority, the node's transaction is its signature, and ComputeJobs accepted it
  only from the node registered at that index;
- without a chain, the node's EIP-191 signed `mpc_compute.attestation.Attestation`, whose signature is
  checked against the address it names.
Either way the node's address is compared with the one the cluster registers, when given.

For each node i the bundle's CID is derived from the attested output-share hash
(`cid_from_digest(outputShareHash)`), the fetched bytes are checked against it, and the bundle is
opened with the receiver's X25519 key under "dx-result/v1|job:<id>|node:<i>" and unpacked
(`envelope.unpack_outputs`). Before reconstructing, the three attestations must agree on inputs
digest and program hash (and the program hash must be the job's, when given), and the replicated
shares of every output must agree (`spu_runtime.check_replicated_consistency`): a node whose share
disagrees is named in the error and no result is returned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts.types import Attestation as ChainAttestation
from dx_core.cid import cid_from_digest
from mpc_compute import spu_runtime
from mpc_compute.attestation import Attestation, AttestationError, verify
from mpc_compute.blob_source import BlobSource
from mpc_compute.envelope import EnvelopeError, open_bundle, result_context, unpack_outputs


class ResultError(Exception):
    """The result cannot be trusted; the message names the node and the check that failed."""

    def __init__(self, message: str, nodes: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.nodes = list(nodes)


@dataclass(frozen=True)
class Attested:
    """What one node attested for a job (hex digests), once its voucher has been checked."""

    job_id: int
    node_index: int
    node_address: str
    inputs_digest: str
    program_hash: str
    output_share_hash: str


def checked_attestation(
    job_id: int, attestation: Attestation | ChainAttestation, expected_address: str | None = None
) -> Attested:
    """The facts of a signed or on-chain attestation, after checking its job, voucher and node address."""
    i = attestation.node_index
    if attestation.job_id != job_id:
        raise ResultError(f"node {i}: attestation is for job {attestation.job_id}, not job {job_id}", [i])
    if isinstance(attestation, ChainAttestation):
        if expected_address is not None and attestation.node.lower() != expected_address.lower():
            raise ResultError(
                f"node {i}: attested on-chain by {attestation.node}, "
                f"the cluster registers {expected_address}",
                [i],
            )
        return Attested(
            job_id,
            i,
            attestation.node,
            bytes(attestation.inputs_digest).hex(),
            bytes(attestation.program_hash).hex(),
            bytes(attestation.output_share_hash).hex(),
        )
    try:
        verify(attestation, expected_address)
    except AttestationError as exc:
        raise ResultError(str(exc), [i]) from None
    return Attested(
        job_id,
        i,
        attestation.node_address,
        attestation.inputs_digest,
        attestation.program_hash,
        attestation.output_share_hash,
    )


def open_node_output(attested: Attested, receiver: X25519PrivateKey, blobs: BlobSource) -> dict[str, bytes]:
    """One node's output shares, after checking the fetched bundle against the attested hash and the
    bundle's envelope."""
    i = attested.node_index
    digest = bytes.fromhex(attested.output_share_hash)
    cid = cid_from_digest(digest)
    try:
        bundle = blobs.get(cid)
    except Exception as exc:
        raise ResultError(f"node {i}: output share {cid} could not be fetched: {exc}", [i]) from None
    if hashlib.sha256(bundle).digest() != digest:
        raise ResultError(f"node {i}: fetched output share does not hash to the attested value", [i])
    try:
        return unpack_outputs(open_bundle(bundle, receiver, result_context(attested.job_id, i)))
    except EnvelopeError as exc:
        raise ResultError(f"node {i}: output share refused: {exc}", [i]) from None
    except ValueError as exc:
        raise ResultError(f"node {i}: output share is malformed: {exc}", [i]) from None


def _check_agreement(attested: Sequence[Attested]) -> None:
    for field in ("inputs_digest", "program_hash"):
        values = [getattr(a, field) for a in attested]
        majority = max(set(values), key=values.count)
        odd = [a.node_index for a in attested if getattr(a, field) != majority]
        if odd:
            raise ResultError(f"attestations disagree on {field}: node(s) {odd} differ from the others", odd)


def fetch_result(
    job_id: int,
    attestations: Sequence[Attestation | ChainAttestation],
    receiver: X25519PrivateKey,
    blobs: BlobSource,
    expected_addresses: Sequence[str] | None = None,
    expected_program_hash: bytes | None = None,
    config: object | None = None,
) -> dict[str, np.ndarray]:
    """The reconstructed outputs of a job, or ResultError naming the node(s) at fault.

    `attestations` are the three nodes' on-chain attestations (`Ledger.jobs.attestations`) or, without
    a chain, their signed statements; `expected_addresses` are the cluster's node addresses by index.
    """
    by_index = {a.node_index: a for a in attestations}
    if sorted(by_index) != list(range(spu_runtime.WORLD_SIZE)):
        raise ResultError(f"need attestations of nodes 0..2, got {sorted(by_index)}")
    addresses = expected_addresses or [None] * spu_runtime.WORLD_SIZE
    ordered = [
        checked_attestation(job_id, by_index[i], addresses[i]) for i in range(spu_runtime.WORLD_SIZE)
    ]
    _check_agreement(ordered)
    if expected_program_hash is not None and ordered[0].program_hash != expected_program_hash.hex():
        raise ResultError(f"nodes attest program {ordered[0].program_hash[:16]}..., the job names another")
    shares = [open_node_output(a, receiver, blobs) for a in ordered]
    names = list(shares[0])
    for i, s in enumerate(shares[1:], start=1):
        if list(s) != names:
            raise ResultError(f"node {i} returned outputs {list(s)}, node 0 returned {names}", [i])
    result = {}
    for name in names:
        triple = [s[name] for s in shares]
        try:
            bad = spu_runtime.check_replicated_consistency(triple)
        except (spu_runtime.ShareFormatError, spu_runtime.ShareMismatchError) as exc:
            raise ResultError(f"output {name!r}: shares do not fit together: {exc}") from None
        if bad:
            who = " and ".join(f"node {r}" for r in bad)
            hint = "" if len(bad) == 1 else " (one of them changed the component they share)"
            raise ResultError(
                f"output {name!r}: {who} returned a share that disagrees with the others{hint}", bad
            )
        result[name] = spu_runtime.reconstruct(triple, config)
    return result
