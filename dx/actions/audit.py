"""Regulator actions: trails, metered usage, the independent verification of the whole log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from dx import context, deployment, output
from dx.errors import StackError, VerificationError

# notarizer.verifier is imported inside verify_report: it loads web3.
if TYPE_CHECKING:
    from notarizer.verifier import VerificationReport


def audit_trail(acting: str, job_id: int) -> list[dict]:
    doc = context.client(acting).request("GET", f"/v1/audit/jobs/{job_id}/trail")
    return doc.get("entries", doc) if isinstance(doc, dict) else doc


def audit_usage(acting: str, dataset_id: int) -> dict:
    return context.client(acting).request("GET", f"/v1/audit/datasets/{dataset_id}/usage")


def export_text(acting: str) -> str:
    """The whole log as the exchange exports it (JSON lines, byte for byte)."""
    return context.client(acting).request("GET", "/v1/audit/export", raw=True).text


def export_entries(acting: str) -> list[dict]:
    return [json.loads(line) for line in export_text(acting).splitlines() if line.strip()]


def verify_report(acting: str) -> VerificationReport:
    """notarizer.verifier's report on the exported log, checked against the Notary on the chain."""
    from notarizer.verifier import verify

    dep = deployment.load_deployment()
    if dep is None:
        raise StackError(f"no deployment file at {deployment.deployment_path()}",
                         hint="start the stack: `dx up`")
    return verify(context.rpc_url(), dep.addresses["Notary"], export_entries(acting),
                  dep.addresses.get("ComputeJobs"))


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
