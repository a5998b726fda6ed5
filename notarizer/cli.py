"""`python -m notarizer.cli`: the regulator's command line verifier (full log or signed bundle)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from notarizer.bundle import verify_bundle
from notarizer.verifier import VerificationReport, verify


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def download(api_url: str, token: str | None, job: int | None, dataset: int | None) -> Any:
    """Fetch an export from the exchange API: the full log (JSON lines) or a job/dataset bundle."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"job": job} if job is not None else {"dataset": dataset} if dataset is not None else {}
    resp = httpx.get(api_url.rstrip("/") + "/audit/export", params=params, headers=headers, timeout=300)
    resp.raise_for_status()
    if params:
        return resp.json()
    return [json.loads(line) for line in resp.text.splitlines() if line.strip()]


def render(report: VerificationReport, console: Console, what: str) -> None:
    verdict = "[bold green]VERIFIED[/]" if report.ok else "[bold red]VERIFICATION FAILED[/]"
    console.print(f"{verdict}: {what}")
    console.print(
        f"  entries checked: {report.entries}   on-chain checkpoints: {report.checkpoints}   "
        f"anchored size: {report.anchored_size}"
        + (f"   chain job events: {report.chain_events}" if report.chain_events is not None else "")
    )
    if not report.findings:
        console.print("  every entry hash, checkpoint root and consistency proof checks out.")
        return
    table = Table("severity", "problem", "seq", "checkpoint", "detail", show_lines=False)
    for f in report.findings:
        style = "red" if f.severity == "error" else "yellow"
        table.add_row(
            f"[{style}]{f.severity}[/]",
            f.problem,
            "" if f.seq is None else str(f.seq),
            "" if f.checkpoint is None else str(f.checkpoint),
            f.detail,
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m notarizer.cli",
        description=(
            "Verify the exchange's transparency log trusting only a chain RPC endpoint and the Notary."
        ),
    )
    parser.add_argument("--rpc", required=True, help="EVM JSON-RPC URL")
    parser.add_argument("--notary", required=True, help="address of the Notary contract")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--log", type=Path, help="exported log, JSON lines (one entry per line)")
    src.add_argument("--bundle", type=Path, help="a signed job or dataset bundle (JSON)")
    src.add_argument("--api", help="exchange API base URL, e.g. http://127.0.0.1:8000/v1 (serving /audit)")
    parser.add_argument("--token", help="bearer token for --api (a regulator's sign-in token)")
    parser.add_argument("--job", type=int, help="with --api: download and verify this job's bundle")
    parser.add_argument("--dataset", type=int, help="with --api: download and verify this dataset's bundle")
    parser.add_argument("--jobs-address", help="ComputeJobs address: cross-check job events with the log")
    parser.add_argument(
        "--deployment", type=Path, help="deployment JSON to take the ComputeJobs address from"
    )
    parser.add_argument("--from-block", type=int, default=0, help="first block to read job events from")
    parser.add_argument("--exporter", help="with a bundle: the address expected to have signed it")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    jobs_address = args.jobs_address
    if jobs_address is None and args.deployment is not None:
        jobs_address = json.loads(args.deployment.read_text())["addresses"].get("ComputeJobs")
    if args.bundle is not None or (args.api and (args.job is not None or args.dataset is not None)):
        bundle = (
            json.loads(args.bundle.read_text())
            if args.bundle
            else download(args.api, args.token, args.job, args.dataset)
        )
        report = verify_bundle(bundle, args.rpc, args.notary, args.exporter)
        what = f"bundle of {bundle.get('subject')} signed by {bundle.get('exporter')}"
    else:
        entries = read_jsonl(args.log) if args.log else download(args.api, args.token, None, None)
        report = verify(args.rpc, args.notary, entries, jobs_address, args.from_block)
        what = f"log {args.log or args.api} against Notary {args.notary}"
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        render(report, Console(), what)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
