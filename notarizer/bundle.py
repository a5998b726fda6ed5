"""Signed, self-contained export bundles of a job's or a dataset's trail, and their offline verification."""

from __future__ import annotations

import time
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from notarizer.entry import LogEntry, canonical_json
from notarizer.log import AnchoredCheckpoint, TransparencyLog

BUNDLE_VERSION = 1


class BundleError(ValueError):
    """A bundle that is malformed or whose signature does not check."""


def proved_entry(
    log: TransparencyLog, entry: LogEntry, checkpoints: list[AnchoredCheckpoint]
) -> dict[str, Any]:
    """An entry's export form plus its inclusion proof against the first checkpoint that covers it."""
    cp = next((c for c in checkpoints if c.tree_size > entry.seq), None)
    out = entry.to_json()
    if cp is None:
        out["inclusion"] = None
    else:
        out["inclusion"] = {
            "checkpoint": cp.idx,
            "tree_size": cp.tree_size,
            "root": cp.root.hex(),
            "tx_hash": cp.tx_hash,
            "block_number": cp.block_number,
            "audit_path": [h.hex() for h in log.inclusion_proof(entry.seq, cp.tree_size)],
        }
    return out


def build_bundle(
    log: TransparencyLog,
    subject: str,
    signer: LocalAccount | None = None,
    notary_address: str | None = None,
    chain_id: int | None = None,
) -> dict[str, Any]:
    """Every entry naming `subject` (e.g. "job:7"), each proved against an anchored checkpoint, signed."""
    checkpoints = log.checkpoints()
    entries = log.entries(subject=subject, limit=None)
    bundle: dict[str, Any] = {
        "version": BUNDLE_VERSION,
        "subject": subject,
        "created": time.time_ns() // 1000,
        "log_size": log.size(),
        "notary": {"address": notary_address, "chain_id": chain_id},
        "checkpoints": [c.to_json() for c in checkpoints if any(c.tree_size > e.seq for e in entries)],
        "entries": [proved_entry(log, e, checkpoints) for e in entries],
    }
    return sign_bundle(bundle, signer) if signer is not None else bundle


def bundle_signing_bytes(bundle: dict[str, Any]) -> bytes:
    """What the exporter signs: the canonical JSON of the bundle without its `exporter` and `signature`."""
    return canonical_json({k: v for k, v in bundle.items() if k not in ("exporter", "signature")})


def sign_bundle(bundle: dict[str, Any], signer: LocalAccount) -> dict[str, Any]:
    """Add the exporter's EIP-191 signature over `bundle_signing_bytes`."""
    signed = signer.sign_message(encode_defunct(bundle_signing_bytes(bundle)))
    return {
        **bundle,
        "exporter": signer.address,
        "signature": "0x" + signed.signature.hex().removeprefix("0x"),
    }


def bundle_signer(bundle: dict[str, Any]) -> str:
    """The address that signed the bundle; BundleError if unsigned or not signed by `exporter`."""
    if not bundle.get("signature"):
        raise BundleError("the bundle is not signed")
    try:
        recovered = Account.recover_message(
            encode_defunct(bundle_signing_bytes(bundle)), signature=bundle["signature"]
        )
    except Exception as exc:  # eth-account raises several types for malformed signatures
        raise BundleError(f"the bundle's signature is malformed: {exc}") from exc
    if recovered.lower() != str(bundle.get("exporter", "")).lower():
        raise BundleError(
            f"the bundle claims exporter {bundle.get('exporter')} but was signed by {recovered}"
        )
    return recovered
