"""Regulator actions: trails, metered usage, the independent verification of the whole log."""

from __future__ import annotations

import json
from pathlib import Path

from dx import context, output
from dx.components import require
from dx.errors import VerificationError


def audit_trail(acting: str, job_id: int) -> list[dict]:
    doc = context.client(acting).request("GET", f"/v1/audit/jobs/{job_id}/trail")
    return doc.get("entries", doc) if isinstance(doc, dict) else doc


def audit_usage(acting: str, dataset_id: int) -> dict:
    return context.client(acting).request("GET", f"/v1/audit/datasets/{dataset_id}/usage")


def export_entries(acting: str) -> list[dict]:
    resp = context.client(acting).request("GET", "/v1/audit/export", raw=True)
    return [json.loads(line) for line in resp.text.splitlines() if line.strip()]


def verify_report(acting: str):
    """notarizer.verifier's report on the exported log, checked against the Notary on the chain."""
    verifier = require("notarizer.verifier")
    ledger = context.ledger()
    addresses = ledger.deployment.addresses if hasattr(ledger, "deployment") else {}
    if not addresses:
        from dx import deployment

        addresses = deployment.load_deployment().addresses
    return verifier.verify(context.rpc_url(), addresses["Notary"], export_entries(acting),
                           addresses.get("ComputeJobs"))


def audit_verify(acting: str) -> dict:
    report = verify_report(acting)
    doc = report.to_json()

    def human() -> None:
        verdict = "[bold green]VERIFIED[/]" if report.ok else "[bold red]VERIFICATION FAILED[/]"
        output.console.print(f"{verdict}: {report.entries} log entries against {report.checkpoints} "
                             f"on-chain checkpoints (anchored size {report.anchored_size})")
        for f in report.findings:
            output.console.print(f"  [{'red' if f.severity == 'error' else 'yellow'}]{f.severity}[/] "
                                 f"{f.problem} {f.detail}")

    output.emit(doc, human)
    if not report.ok:
        raise VerificationError("the audit trail does not verify", hint="see the findings above")
    return doc


def audit_export(acting: str, out: Path) -> dict:
    entries = export_entries(acting)
    Path(out).write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    return {"file": str(out), "entries": len(entries)}
