"""Benchmark of concurrent jobs: small jobs from several buyers through the whole job path, on nodes that run
one job at a time (1 lane: the baseline) and on nodes that run several at once, in the same run.

    .venv/bin/python scripts/bench_concurrency.py [--jobs 20] [--buyers 4] [--lanes 2] [--datasets 4]
        [--rows 300] [--json]

For each lane count: Anvil, the contracts and three node processes watching the chain
(bench_job.Exchange), --datasets datasets of --rows rows x 8 columns each; buyer b queries dataset
b mod --datasets. Buyer A sends a burst of half the jobs first; then the other buyers' jobs come in turn.
Every request is approved at once, as a pre-approving policy would. The datasets have the default
policy, so a differencing guard: jobs over one dataset share its lane and run one at a time, and only
jobs over datasets of different lanes run at once (--datasets 1 shows the fair order alone). Reported:
- jobs per minute, from the first job's authorization to the last one's completion on-chain;
- latency from AUTHORIZED to COMPLETED, p50 and p99, and each buyer's median;
- the order node 0 ran the jobs in, by buyer: with a fair queue, a buyer's first job waits for at most
  one turn per lane behind A's burst, not for the whole burst;
- how busy the machine's CPUs were over the run (/proc/stat): lanes add throughput only while cores idle.
Every result is opened and checked against float64 numpy. About 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

# scripts/ is on sys.path when this file runs; bench_job puts the repository there too
from bench_job import Exchange, check

from contracts import JobStatus, Ledger, web3_at


def submission_order(jobs: int, buyers: int) -> list[int]:
    """Buyer 0's burst of half the jobs, then the other buyers in turn."""
    burst = jobs // 2
    rest = [1 + k % (buyers - 1) for k in range(jobs - burst)] if buyers > 1 else [0] * (jobs - burst)
    return [0] * burst + rest


def watch_completions(
    ex: Exchange, job_ids: list[int], done: dict[int, float], stop: threading.Event
) -> None:
    """Record when each job leaves AUTHORIZED, on a web3 connection of its own."""
    ledger = Ledger(web3_at(ex.chain.rpc_url, timeout=60), ex.deployment)
    while not stop.is_set():
        for job_id in list(job_ids):
            if job_id not in done and ledger.jobs.job(job_id).status is not JobStatus.AUTHORIZED:
                done[job_id] = time.perf_counter()
        time.sleep(0.05)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def measure(lanes: int, args: argparse.Namespace, work: Path, progress) -> dict:
    ex = Exchange(work, buyers=args.buyers, lanes=lanes)
    try:
        tables = []
        for d in range(args.datasets):
            rng = np.random.default_rng(args.rows + d)
            data = np.column_stack([rng.normal(50 + 5 * k, 10 + k, args.rows) for k in range(8)]).round(3)
            folder = work / f"d{d}"
            folder.mkdir()
            tables.append((data, *ex.list_dataset(data, folder)))
        lane_of = [int(m.digest().hex(), 16) % lanes for _, _, m in tables]
        order = submission_order(args.jobs, args.buyers)
        job_ids: list[int] = []
        authorized: dict[int, float] = {}
        buyer_of: dict[int, int] = {}
        done: dict[int, float] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=watch_completions, args=(ex, job_ids, done, stop), daemon=True)
        watcher.start()
        busy0, total0 = cpu_ticks()
        for b in order:
            _, dataset_id, manifest = tables[b % args.datasets]
            job_id, _, _ = ex.authorize_job(dataset_id, manifest, ex.buyers[b])
            authorized[job_id], buyer_of[job_id] = time.perf_counter(), b
            job_ids.append(job_id)
        progress(f"  {lanes} lane(s): {len(job_ids)} jobs authorized, waiting for them")
        for job_id in job_ids:
            ex.await_completion(job_id)
        while len(done) < len(job_ids):
            time.sleep(0.05)
        stop.set()
        busy1, total1 = cpu_ticks()
        data_of = {j: tables[buyer_of[j] % args.datasets][0] for j in job_ids}
        errors = [check(ex.fetch(j, ex.buyers[buyer_of[j]]), data_of[j]) for j in job_ids]
        turns = {}
        for j in job_ids:
            timeline = ex.cluster.status(0, j)["timeline"]
            turns[j] = next(e["at"] for e in timeline if e["stage"] == "turn")
    finally:
        ex.stop()
    latency = np.array([done[j] - authorized[j] for j in job_ids])
    span = max(done.values()) - min(authorized.values())
    letters = string.ascii_uppercase

    def median_of(b: int) -> float:
        return round(float(np.median([done[j] - authorized[j] for j in job_ids if buyer_of[j] == b])), 2)

    return {
        "lanes": lanes,
        "jobs": len(job_ids),
        "buyers": args.buyers,
        "rows": args.rows,
        "datasets": args.datasets,
        "dataset_lanes": lane_of,
        "jobs_per_minute": round(len(job_ids) / span * 60, 1),
        "span_s": round(span, 2),
        "latency_p50_s": round(float(np.percentile(latency, 50)), 2),
        "latency_p99_s": round(float(np.percentile(latency, 99)), 2),
        "buyer_median_s": {letters[b]: median_of(b) for b in range(args.buyers)},
        "submitted": "".join(letters[buyer_of[j]] for j in job_ids),
        "ran": "".join(letters[buyer_of[j]] for j in sorted(job_ids, key=turns.get)),
        "max_rel_error": float(f"{max(errors):.2e}"),
        "cpu_busy": round((busy1 - busy0) / max(1, total1 - total0), 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: .venv/bin/python scripts/bench_concurrency.py --jobs 12 --lanes 2",
    )
    p.add_argument("--jobs", type=int, default=20)
    p.add_argument("--buyers", type=int, default=4)
    p.add_argument("--lanes", type=int, default=2, help="lanes of the concurrent run (the baseline has 1)")
    p.add_argument("--datasets", type=int, default=4, help="datasets the buyers query (buyer b: b mod N)")
    p.add_argument("--rows", type=int, default=300)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results = []
    for lanes in (1, args.lanes):
        with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp:
            progress(f"{lanes} lane(s): starting Anvil and three nodes…")
            results.append(measure(lanes, args, Path(tmp), progress))
    base = results[0]["jobs_per_minute"]
    for r in results:
        r["throughput_ratio"] = round(r["jobs_per_minute"] / base, 2)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"datasets: {args.datasets}, their lanes: {[r['dataset_lanes'] for r in results]}")
    head = f"{'lanes':>5} {'jobs/min':>9} {'ratio':>6} {'p50':>7} {'p99':>7} {'CPU':>4}"
    print(f"{head}  per buyer (median)  ran (sent)")
    for r in results:
        per = ", ".join(f"{b} {s:.1f}s" for b, s in r["buyer_median_s"].items())
        print(
            f"{r['lanes']:>5} {r['jobs_per_minute']:>9.1f} {r['throughput_ratio']:>5.2f}x "
            f"{r['latency_p50_s']:>6.2f}s {r['latency_p99_s']:>6.2f}s {r['cpu_busy']:>4.0%}  {per}  "
            f"{r['ran']} ({r['submitted']})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
