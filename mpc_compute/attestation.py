"""Signed statements of a compute node: the result attestation and the destruction receipt.

Both are canonical JSON documents signed by the node's Ethereum key with EIP-191 (`personal_sign`),
so anyone holding the document recovers the signer and compares it with the cluster's registered
node address. The attestation carries exactly what ComputeJobs.attest records on-chain (job id,
inputs digest = sha256 over the input manifest hashes in job order, program hash, output-share hash
= sha256 of the sealed output bundle) plus the node index and the output CID for convenience.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import ClassVar

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from dx_core.canonical import canonical_json


class AttestationError(ValueError):
    """A signed node statement that is malformed or not signed by the node it names."""


class _SignedStatement:
    """What every signed node statement shares: the signed bytes are the canonical JSON of its fields
    minus the signature, tagged with the statement's type so one kind cannot pass for another."""

    STATEMENT_TYPE: ClassVar[str]

    def payload(self) -> bytes:
        doc = asdict(self)
        doc.pop("signature")
        return canonical_json({"type": self.STATEMENT_TYPE, **doc})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Attestation(_SignedStatement):
    job_id: int
    node_index: int
    node_address: str
    inputs_digest: str
    program_hash: str
    output_share_hash: str
    output_cid: str
    signed_at: int
    signature: str = ""

    STATEMENT_TYPE: ClassVar[str] = "dx-attestation/v1"


@dataclass(frozen=True)
class DestructionReceipt(_SignedStatement):
    job_id: int
    node_index: int
    node_address: str
    destroyed: dict
    destroyed_at: int
    signature: str = ""

    STATEMENT_TYPE: ClassVar[str] = "dx-destruction/v1"


def _sign(account: LocalAccount, payload: bytes) -> str:
    return account.sign_message(encode_defunct(payload)).signature.hex()


def sign_attestation(account: LocalAccount, **fields) -> Attestation:
    unsigned = Attestation(node_address=account.address, signed_at=int(time.time()), **fields)
    return Attestation(**{**asdict(unsigned), "signature": _sign(account, unsigned.payload())})


def sign_destruction(
    account: LocalAccount, job_id: int, node_index: int, destroyed: dict
) -> DestructionReceipt:
    unsigned = DestructionReceipt(job_id, node_index, account.address, destroyed, int(time.time()))
    return DestructionReceipt(**{**asdict(unsigned), "signature": _sign(account, unsigned.payload())})


def recover_signer(statement: Attestation | DestructionReceipt) -> str:
    try:
        return Account.recover_message(encode_defunct(statement.payload()), signature=statement.signature)
    except Exception as exc:
        raise AttestationError(f"node {statement.node_index}: signature does not recover: {exc}") from None


def verify(statement: Attestation | DestructionReceipt, expected_address: str | None = None) -> None:
    """Raise AttestationError unless the statement is signed by the address it names (and expected)."""
    signer = recover_signer(statement)
    if signer.lower() != statement.node_address.lower():
        raise AttestationError(
            f"node {statement.node_index}: statement names {statement.node_address} but is signed by {signer}"
        )
    if expected_address is not None and signer.lower() != expected_address.lower():
        raise AttestationError(
            f"node {statement.node_index}: signed by {signer}, the cluster registers {expected_address}"
        )


def attestation_from_dict(doc: dict) -> Attestation:
    try:
        return Attestation(**doc)
    except TypeError as exc:
        raise AttestationError(f"malformed attestation: {exc}") from None
