"""A dataset's usage history from the log: which jobs used it, for whom, with which algorithm, when."""

from __future__ import annotations

from typing import Any

from notarizer.bundle import proved_entry
from notarizer.entry import Kind
from notarizer.log import TransparencyLog


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


def _job_summary(job: str, trail: list[dict[str, Any]]) -> dict[str, Any]:
    def first(*keys: str) -> Any:
        return next((v for e in trail if (v := payload_field(e.get("payload"), *keys)) is not None), None)

    algorithm = first("algorithm", "algorithmId", "algorithm_id") or next(
        (s for e in trail for s in e["subjects"] if s.startswith("algorithm:")), None
    )
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


def dataset_usage(log: TransparencyLog, dataset_id: int) -> dict[str, Any]:
    """Every job.* entry of every job that used `dataset_id` (named as `dataset:N` in an entry's subjects,
    or in a job.requested payload's datasetIds), each with its inclusion proof, plus one summary per job."""
    job_ids: list[str] = []
    for e in log.entries(subject=f"dataset:{dataset_id}", kind="job.*", limit=None):
        job_ids.extend(s for s in e.subjects if s.startswith("job:") and s not in job_ids)
    for e in log.entries(kind=Kind.JOB_REQUESTED, limit=None):
        if _names_dataset(e.payload, dataset_id):
            job_ids.extend(s for s in e.subjects if s.startswith("job:") and s not in job_ids)
    cps = log.checkpoints()
    uses, jobs = [], []
    for job in job_ids:
        trail = [proved_entry(log, e, cps) for e in log.entries(subject=job, kind="job.*", limit=None)]
        summary = _job_summary(job, trail)
        jobs.append(summary)
        for e in trail:
            uses.append(
                {
                    **e,
                    "job": summary["job_id"],
                    "jobs": [s for s in e["subjects"] if s.startswith("job:")],
                    "algorithm": payload_field(e.get("payload"), "algorithm") or summary["algorithm"],
                    "buyer": payload_field(e.get("payload"), "buyer") or summary["buyer"],
                    "result_hash": payload_field(e.get("payload"), "result_hash", "resultHash"),
                }
            )
    uses.sort(key=lambda u: u["seq"])
    return {"dataset": dataset_id, "uses": uses, "jobs": jobs}
