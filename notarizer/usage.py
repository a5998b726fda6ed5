"""A dataset's usage history from the log: which jobs used it, for whom, with which algorithm, when."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from notarizer.bundle import proved_entry
from notarizer.entry import Kind, LogEntry
from notarizer.log import TransparencyLog

# seq -> the chain-checked event of that entry, {"event", "args"} (VerificationReport.checked_args()).
Checked = Mapping[int, Mapping[str, Any]]


def payload_field(payload: Any, *keys: str) -> Any:
    """The first of `keys` found in a payload, its "args" (chain-event entries) or its "args"."terms"."""
    if not isinstance(payload, dict):
        return None
    args = payload.get("args") if isinstance(payload.get("args"), dict) else {}
    terms = args.get("terms") if isinstance(args.get("terms"), dict) else {}
    for scope in (payload, args, terms):
        for key in keys:
            if scope.get(key) is not None:
                return scope[key]
    return None


def _names_dataset(payload: Any, dataset_id: int) -> bool:
    ids = payload_field(payload, "datasetIds", "datasets", "dataset_ids")
    return isinstance(ids, list) and any(str(i) == str(dataset_id) for i in ids)


def _fields(checked: Checked | None) -> Callable[[dict[str, Any]], Any]:
    """Where an entry's facts come from: its own payload, or with `checked` only the chain event the
    verifier matched it with (an entry the verifier did not check in full contributes no facts)."""
    if checked is None:
        return lambda e: e.get("payload")
    return lambda e: dict(checked[e["seq"]]) if e["seq"] in checked else None


def _job_summary(
    job: str, trail: list[dict[str, Any]], fields: Callable[[dict[str, Any]], Any], checked: bool
) -> dict[str, Any]:
    def first(*keys: str) -> Any:
        return next((v for e in trail if (v := payload_field(fields(e), *keys)) is not None), None)

    algorithm = first("algorithm", "algorithmId", "algorithm_id")
    if algorithm is None and not checked:  # a subject is the log's word, not a chain argument
        algorithm = next((s for e in trail for s in e["subjects"] if s.startswith("algorithm:")), None)
    return {
        "job": job,
        "job_id": int(job[4:]) if job[4:].isdigit() else None,
        "buyer": first("buyer") or (trail[0]["actor"] if trail else None),
        "algorithm": algorithm,
        "requested_at": trail[0]["time_iso"] if trail else None,
        "status": trail[-1]["kind"] if trail else None,
        "result_hash": first("result_hash", "resultHash"),
        "seqs": [e["seq"] for e in trail],
    }


def _report(
    dataset_id: int,
    job_ids: list[str],
    trail_of: Callable[[str], list[dict[str, Any]]],
    fields: Callable[[dict[str, Any]], Any],
    checked: Checked | None,
) -> dict[str, Any]:
    uses, jobs = [], []
    for job in job_ids:
        trail = trail_of(job)
        summary = _job_summary(job, trail, fields, checked is not None)
        jobs.append(summary)
        for e in trail:
            facts = fields(e)
            uses.append(
                {
                    **e,
                    "job": summary["job_id"],
                    "jobs": [s for s in e["subjects"] if s.startswith("job:")],
                    "algorithm": payload_field(facts, "algorithm") or summary["algorithm"],
                    "buyer": payload_field(facts, "buyer") or summary["buyer"],
                    "result_hash": payload_field(facts, "result_hash", "resultHash"),
                    **({} if checked is None else {"checked": e["seq"] in checked}),
                }
            )
    uses.sort(key=lambda u: u["seq"])
    return {"dataset": dataset_id, "uses": uses, "jobs": jobs}


def _add_jobs(job_ids: list[str], subjects: Iterable[str]) -> None:
    job_ids.extend(s for s in subjects if s.startswith("job:") and s not in job_ids)


def dataset_usage(log: TransparencyLog, dataset_id: int, checked: Checked | None = None) -> dict[str, Any]:
    """Every job.* entry of every job that used `dataset_id`, each with its inclusion proof, plus one
    summary per job.

    Without `checked`, the entries' own word: jobs naming `dataset:N` in a subject or in a job.requested
    payload's datasetIds. With `checked` (the verifier's chain-checked events by seq), only the chain's
    arguments count: the jobs whose checked JobRequested names the dataset, and facts (buyer, algorithm,
    result hash) only from checked entries."""
    fields = _fields(checked)
    job_ids: list[str] = []
    if checked is None:
        for e in log.entries(subject=f"dataset:{dataset_id}", kind="job.*", limit=None):
            _add_jobs(job_ids, e.subjects)
    for e in log.entries(kind=Kind.JOB_REQUESTED, limit=None):
        if _names_dataset(fields({"seq": e.seq, "payload": e.payload}), dataset_id):
            _add_jobs(job_ids, e.subjects)
    cps = log.checkpoints()

    def trail_of(job: str) -> list[dict[str, Any]]:
        return [proved_entry(log, e, cps) for e in log.entries(subject=job, kind="job.*", limit=None)]

    return _report(dataset_id, job_ids, trail_of, fields, checked)


def exported_usage(
    entries: Iterable[LogEntry | dict[str, Any]], dataset_id: int, checked: Checked
) -> dict[str, Any]:
    """The usage report of `dataset_id` from an exported log the regulator verified: built only from
    the chain-checked events `checked` (VerificationReport.checked_args()), as `dataset_usage` with
    `checked` builds it, without inclusion proofs (the verification covered the checkpoints)."""
    exported = [e.to_json() if isinstance(e, LogEntry) else e for e in entries]
    fields = _fields(checked)
    job_ids: list[str] = []
    for e in exported:
        if e.get("kind") == Kind.JOB_REQUESTED and _names_dataset(fields(e), dataset_id):
            _add_jobs(job_ids, e["subjects"])

    def trail_of(job: str) -> list[dict[str, Any]]:
        return [e for e in exported if job in e["subjects"] and str(e["kind"]).startswith("job.")]

    return _report(dataset_id, job_ids, trail_of, fields, checked)
