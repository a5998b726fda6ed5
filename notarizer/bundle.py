"""Signed, self-contained export bundles of a job's or a dataset's trail, and their offline verification."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from notarizer.chainview import ChainCheckpoint, ChainView
from notarizer.entry import InvalidEntry, LogEntry, canonical_payload, payload_digest
from notarizer.log import AnchoredCheckpoint, TransparencyLog
from notarizer.proofs import verify_inclusion
from notarizer.verifier import Finding, VerificationReport

BUNDLE_VERSION = 1


class BundleError(ValueError):
    """A bundle that is malformed or whose signature does not check."""


def proved_entry(
    log: TransparencyLog, entry: LogEntry, checkpoints: list[AnchoredCheckpoint], latest: bool = False
) -> dict[str, Any]:
    """An entry's export form plus its inclusion proof against the first checkpoint that covers it (the
    one whose transaction notarized it), or with `latest` against the latest checkpoint."""
    if latest:
        cp = checkpoints[-1] if checkpoints and checkpoints[-1].tree_size > entry.seq else None
    else:
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
        "entries": [proved_entry(log, e, checkpoints, latest=True) for e in entries],
    }
    cited = {e["inclusion"]["checkpoint"] for e in bundle["entries"] if e["inclusion"]}
    bundle["checkpoints"] = [c.to_json() for c in checkpoints if c.idx in cited]
    return sign_bundle(bundle, signer) if signer is not None else bundle


def bundle_signing_bytes(bundle: dict[str, Any]) -> bytes:
    """What the exporter signs: the canonical JSON of the bundle without its `exporter` and `signature`."""
    return canonical_payload({k: v for k, v in bundle.items() if k not in ("exporter", "signature")})


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


def check_bundle(
    bundle: dict[str, Any],
    chain_checkpoint: Callable[[int], ChainCheckpoint | None],
    notary_address: str | None = None,
    expected_exporter: str | None = None,
) -> VerificationReport:
    """Verify a bundle given a way to read on-chain checkpoints by index (see `verify_bundle`)."""
    findings: list[Finding] = []
    try:
        signer = bundle_signer(bundle)
        if expected_exporter and signer.lower() != expected_exporter.lower():
            findings.append(Finding("signature", f"signed by {signer}, expected {expected_exporter}"))
    except BundleError as exc:
        findings.append(Finding("signature", str(exc)))
    named = (bundle.get("notary") or {}).get("address")
    if named and notary_address and named.lower() != notary_address.lower():
        findings.append(
            Finding("signature", f"the bundle names Notary {named}, verifying against {notary_address}")
        )
    subject = str(bundle.get("subject", ""))
    cache: dict[int, ChainCheckpoint | None] = {}
    previous, anchored = -1, 0
    raw_entries = bundle.get("entries") or []
    for raw in raw_entries:
        try:
            e = LogEntry.from_json(raw)
        except InvalidEntry as exc:
            findings.append(Finding("malformed", str(exc)))
            continue
        if e.seq <= previous:
            findings.append(Finding("reordered", f"entry seq {e.seq} follows seq {previous}", e.seq))
        previous = max(previous, e.seq)
        if subject not in e.subjects:
            findings.append(Finding("inserted", f"entry seq {e.seq} does not name {subject}", e.seq))
        if e.payload is not None and payload_digest(e.payload) != e.payload_hash:
            findings.append(
                Finding("changed", f"entry seq {e.seq}: payload does not hash to payload_hash", e.seq)
            )
        inc = raw.get("inclusion")
        if not inc:
            findings.append(
                Finding(
                    "unanchored",
                    f"entry seq {e.seq} is not covered by a checkpoint yet",
                    e.seq,
                    severity="warning",
                )
            )
            continue
        index = int(inc["checkpoint"])
        if index not in cache:
            cache[index] = chain_checkpoint(index)
        cp = cache[index]
        if cp is None or (cp.tree_size, cp.root.hex()) != (int(inc["tree_size"]), inc["root"]):
            on_chain = "absent" if cp is None else f"({cp.tree_size}, {cp.root.hex()})"
            findings.append(
                Finding(
                    "forked-root",
                    f"the bundle cites checkpoint {index} as ({inc['tree_size']}, "
                    f"{inc['root']}) but on chain it is {on_chain}",
                    e.seq,
                    index,
                )
            )
            continue
        path = [bytes.fromhex(h) for h in inc["audit_path"]]
        if not verify_inclusion(e.seq, cp.tree_size, e.computed_leaf_hash(), path, cp.root):
            findings.append(
                Finding(
                    "changed",
                    f"entry seq {e.seq} is not in the tree anchored by checkpoint {index} "
                    "(its inclusion proof fails against the on-chain root)",
                    e.seq,
                    index,
                )
            )
        anchored = max(anchored, cp.tree_size)
    return VerificationReport(len(raw_entries), len(cache), anchored, None, findings)


def verify_bundle(
    bundle: dict[str, Any], rpc_url: str, notary_address: str, expected_exporter: str | None = None
) -> VerificationReport:
    """Verify a bundle offline except for reading the cited checkpoints from the Notary over `rpc_url`.

    A bundle proves each of its entries is in the anchored log; it cannot prove the trail is complete
    (the full-log verifier does that)."""
    view = ChainView(rpc_url, notary_address)
    report = check_bundle(bundle, view.checkpoint, notary_address, expected_exporter)
    exporter = bundle.get("exporter")
    if expected_exporter is None and exporter and not report.errors_of("signature"):
        if not view.is_notarizer(exporter):
            report.findings.append(
                Finding(
                    "signature",
                    f"the exporter {exporter} does not hold the Notary's "
                    "notarizer role; pass the expected exporter to trust it",
                    severity="warning",
                )
            )
    return report
