"""The output node (client side): fetch the three sealed output shares, check them, reconstruct the result.

Run by the job's result receiver. For each node i it derives the bundle's CID from the attested
output-share hash (`cid_from_digest(outputShareHash)`), checks the fetched bytes against it, checks
the attestation's signature (and, when given, the node address the cluster registers), opens the
bundle with the receiver's X25519 key under "dx-result/v1|job:<id>|node:<i>", and unpacks the
output shares. Before reconstructing, the three attestations must agree on inputs digest and
program hash, and the replicated shares of every output must agree
(`spu_runtime.check_replicated_consistency`): a node whose share disagrees is named in the error
and no result is returned.

Packed output format (the plaintext inside a node's sealed bundle): b"DXOUT1", a u32 length, a
canonical JSON header [{"name", "length", "sha256"}] in output order, then the serialized shares.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dx_core.cid import cid_from_digest
from mpc_compute import spu_runtime
from mpc_compute.envelope import EnvelopeError, open_bundle, result_context
from mpc_compute.manifest import canonical_json
from mpc_compute.node.attest import Attestation, AttestationError, verify
from mpc_compute.node.blob_source import BlobSource

_MAGIC = b"DXOUT1"


class ResultError(Exception):
    """The result cannot be trusted; the message names the node and the check that failed."""

    def __init__(self, message: str, nodes: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.nodes = list(nodes)


def pack_outputs(outputs: dict[str, bytes]) -> bytes:
    header = canonical_json(
        [{"name": n, "length": len(v), "sha256": hashlib.sha256(v).hexdigest()} for n, v in outputs.items()]
    )
    return b"".join([_MAGIC, struct.pack(">I", len(header)), header, *outputs.values()])


def unpack_outputs(data: bytes) -> dict[str, bytes]:
    if data[: len(_MAGIC)] != _MAGIC:
        raise ValueError("not a packed output (bad magic)")
    (hlen,) = struct.unpack(">I", data[len(_MAGIC) : len(_MAGIC) + 4])
    pos = len(_MAGIC) + 4
    header = json.loads(data[pos : pos + hlen])
    pos += hlen
    out = {}
    for item in header:
        value = data[pos : pos + item["length"]]
        if len(value) != item["length"] or hashlib.sha256(value).hexdigest() != item["sha256"]:
            raise ValueError(f"packed output {item['name']!r} is truncated or altered")
        out[item["name"]] = value
        pos += item["length"]
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} trailing bytes after the packed outputs")
    return out


def open_node_output(
    job_id: int,
    attestation: Attestation,
    receiver: X25519PrivateKey,
    blobs: BlobSource,
    expected_address: str | None = None,
) -> dict[str, bytes]:
    """One node's output shares, after checking its attestation, the bundle hash and the envelope."""
    i = attestation.node_index
    if attestation.job_id != job_id:
        raise ResultError(f"node {i}: attestation is for job {attestation.job_id}, not job {job_id}", [i])
    try:
        verify(attestation, expected_address)
    except AttestationError as exc:
        raise ResultError(str(exc), [i]) from None
    digest = bytes.fromhex(attestation.output_share_hash)
    cid = cid_from_digest(digest)
    try:
        bundle = blobs.get(cid)
    except Exception as exc:
        raise ResultError(f"node {i}: output share {cid} could not be fetched: {exc}", [i]) from None
    if hashlib.sha256(bundle).digest() != digest:
        raise ResultError(f"node {i}: fetched output share does not hash to the attested value", [i])
    try:
        return unpack_outputs(open_bundle(bundle, receiver, result_context(job_id, i)))
    except EnvelopeError as exc:
        raise ResultError(f"node {i}: output share refused: {exc}", [i]) from None
    except ValueError as exc:
        raise ResultError(f"node {i}: output share is malformed: {exc}", [i]) from None


def _check_agreement(attestations: Sequence[Attestation]) -> None:
    for field in ("inputs_digest", "program_hash"):
        values = [getattr(a, field) for a in attestations]
        majority = max(set(values), key=values.count)
        odd = [a.node_index for a in attestations if getattr(a, field) != majority]
        if odd:
            raise ResultError(f"attestations disagree on {field}: node(s) {odd} differ from the others", odd)


def fetch_result(
    job_id: int,
    attestations: Sequence[Attestation],
    receiver: X25519PrivateKey,
    blobs: BlobSource,
    expected_addresses: Sequence[str] | None = None,
    expected_program_hash: bytes | None = None,
    chain_output_hashes: dict[int, bytes] | None = None,
    config=None,
) -> dict[str, np.ndarray]:
    """The reconstructed outputs of a job, or ResultError naming the node(s) at fault.

    `chain_output_hashes` (node index -> outputShareHash, from `Ledger.jobs.output_share_hashes`)
    makes the chain the authority: each node's signed attestation must carry the hash it attested on-chain.
    """
    by_index = {a.node_index: a for a in attestations}
    if sorted(by_index) != list(range(spu_runtime.WORLD_SIZE)):
        raise ResultError(f"need attestations of nodes 0..2, got {sorted(by_index)}")
    ordered = [by_index[i] for i in range(spu_runtime.WORLD_SIZE)]
    _check_agreement(ordered)
    if chain_output_hashes is not None:
        for a in ordered:
            on_chain = chain_output_hashes.get(a.node_index)
            if on_chain is None or on_chain.hex() != a.output_share_hash:
                raise ResultError(
                    f"node {a.node_index}: output-share hash differs from its on-chain attestation",
                    [a.node_index],
                )
    if expected_program_hash is not None and ordered[0].program_hash != expected_program_hash.hex():
        raise ResultError(f"nodes attest program {ordered[0].program_hash[:16]}..., the job names another")
    shares = [
        open_node_output(
            job_id, a, receiver, blobs, None if expected_addresses is None else expected_addresses[i]
        )
        for i, a in enumerate(ordered)
    ]
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
