"""Regulator actions: trails, metered usage, the independent verification of the whole log."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from dx import context, deployment, output
from dx.errors import StackError, VerificationError

# notarizer.verifier is imported inside verify_report: it loads web3.
if TYPE_CHECKING:
    from notarizer.verifier import VerificationReport

log = logging.getLogger("dx.audit")
EXPORT_ATTEMPTS = 3


def audit_trail(acting: str, job_id: int) -> list[dict]:
    doc = context.client(acting).request("GET", f"/v1/audit/jobs/{job_id}/trail")
    return doc.get("entries", doc) if isinstance(doc, dict) else doc


def audit_usage(
    acting: str, dataset_id: int, verified: tuple[VerificationReport, list[dict]] | None = None
) -> dict:
    """The dataset's metered usage, built from the exported log's chain-checked events only (the exchange's
    own usage report is not trusted: its arguments could have been altered). `verified`: a report and the
    entries it verified, to reuse."""
    from notarizer.usage import exported_usage

    report, entries = verified or verified_export(acting)
    if not report.integrity_ok:
        raise VerificationError("the audit trail does not verify: no usage report from it",
                                hint="run `dx audit verify` for the findings")
    from dx.actions.budget import budget_usage

    usage = exported_usage(entries, dataset_id, report.checked_args())
    # ε is metered by the Market itself: its events must add up to the spent total it holds
    return {**usage, "privacy_budget": budget_usage(dataset_id)}


def export_text(acting: str) -> str:
    """The whole log as the exchange exports it (JSON lines, byte for byte)."""
    return context.client(acting).request("GET", "/v1/audit/export", raw=True).text


def export_entries(acting: str) -> list[dict]:
    return [json.loads(line) for line in export_text(acting).splitlines() if line.strip()]


def verify_report(acting: str) -> VerificationReport:
    """notarizer.verifier's report on the exported log, checked against the Notary on the chain."""
    return verified_export(acting)[0]


def verified_export(acting: str) -> tuple[VerificationReport, list[dict]]:
    """The exported log and notarizer.verifier's report on it, checked against the Notary on the chain."""
    from dx.actions.compliance import compliance_check
    from notarizer.verifier import verify

    dep = deployment.load_deployment()
    if dep is None:
        raise StackError(f"no deployment file at {deployment.deployment_path()}",
                         hint="start the stack: `dx up`")
    client = context.client(acting)
    for attempt in range(EXPORT_ATTEMPTS):
        entries = export_entries(acting)
        report = verify(context.rpc_url(), dep.addresses["Notary"], entries, dep.addresses.get("ComputeJobs"),
                        compliance=compliance_check(context.ledger(), client.get_blob))
        # The anchorer may anchor a checkpoint past the export between the two reads: the log only grows,
        # so a new export covers it. A log that stays short of its checkpoints is reported as truncated.
        if not report.errors or any(f.problem != "truncated" for f in report.errors):
            break
        log.info("a checkpoint was anchored past the export (attempt %d): exporting again", attempt + 1)
    return report, entries


def audit_verify(acting: str) -> dict:
    report = verify_report(acting)
    doc = report.to_json()

    def human() -> None:
        verdict = "[bold green]VERIFIED[/]" if report.ok else "[bold red]VERIFICATION FAILED[/]"
        output.console.print(f"{verdict}: {report.entries} log entries against {report.checkpoints} "
                             f"on-chain checkpoints (anchored size {report.anchored_size})")
        if report.violations:
            output.console.print(f"  [bold red]{len(report.violations)} policy violation(s)[/]: jobs that "
                                 "ran although a listing's policy forbade them")
        for f in report.findings:
            output.console.print(f"  [{'red' if f.severity == 'error' else 'yellow'}]{f.severity}[/] "
                                 f"{f.problem} {f.detail}")

    output.emit(doc, human)
    if not report.ok:
        raise VerificationError("the audit trail does not verify", hint="see the findings above")
    return doc


def audit_export(acting: str, out: Path, job: int | None = None, dataset: int | None = None) -> dict:
    """The whole log (JSON lines), or with `job`/`dataset` the exchange's signed bundle of that trail."""
    if job is not None or dataset is not None:
        params = {"job": job} if job is not None else {"dataset": dataset}
        resp = context.client(acting).request("GET", "/v1/audit/export", params=params, raw=True)
        Path(out).write_text(resp.text)
        bundle = json.loads(resp.text)
        return {"file": str(out), "subject": bundle.get("subject"), "exporter": bundle.get("exporter")}
    text = export_text(acting)  # kept verbatim: a verifier must see exactly what the exchange served
    Path(out).write_text(text)
    return {"file": str(out), "entries": sum(1 for line in text.splitlines() if line.strip())}
