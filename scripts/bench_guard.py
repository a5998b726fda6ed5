"""Benchmark of the differencing guard: the same joint_stats job with and without it, in the same run.

    .venv/bin/python scripts/bench_guard.py [--rows N] [--priors M] [--repeat R] [--json]

Three real SPU party processes on loopback (LocalParties, one fresh process per party and job). The
job: joint_stats over one dataset of N rows x 4 columns with a cohort filter and a floor of 100. Cases,
alternated in every repeat: the plain program (no guard: what ran before it existed), the guard with
no earlier cohort (the first job on a dataset), and the guard against M earlier cohorts (each a
node's kept share from a first guarded run of the job). The slowest party's time,
median of R repeats; ratios against the plain program of the same run. Also prints what a node
stores per kept cohort (the sealed share's size) and how that grows with max uses.
Default: 1,000,000 rows, 20 earlier cohorts, 3 repeats (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mpc_compute import guard, spu_runtime  # noqa: E402
from mpc_compute.algorithms import ALGORITHMS, compile_program  # noqa: E402
from tests.fixtures.local_parties import LocalParties  # noqa: E402

K = 100


def plans(program, rows: int, priors: list[list[bytes]]) -> list[guard.GuardPlan]:
    """Each rank's plan with its own shares; the guard program compiled once, as the node service does."""
    alg = ALGORITHMS["joint_stats"]

    def plan(shares: list[bytes], compiled=None) -> guard.GuardPlan:
        segment = guard.Segment("data_0", 0, rows, K, tuple(guard.Prior(j, p) for j, p in enumerate(shares)))
        return guard.GuardPlan(alg.cohort_output, alg.release_output, alg.guard_output, (segment,), compiled)

    compiled = guard.compile_guard(program, plan([b""] * len(priors)))
    return [plan([p[rank] for p in priors], compiled) for rank in range(3)]


def measure(rows: int, n_priors: int, repeat: int, progress) -> dict:
    rng = np.random.default_rng(7)
    data = np.stack(
        [
            rng.uniform(18, 90, rows),
            rng.normal(600, 120, rows),
            rng.normal(50, 15, rows),
            rng.exponential(3, rows),
        ],
        axis=1,
    ).astype(np.float32)
    program = compile_program(
        "joint_stats",
        [("data_0", data.shape, "float32")],
        {"cohort": {"column": 0, "min": 25.0}, "min_cohort": K},
    )
    shared: list[dict[str, bytes]] = [{}, {}, {}]
    for rank, share in enumerate(spu_runtime.make_shares(data)):
        shared[rank]["data_0"] = share
    parties = LocalParties()
    # the earlier cohorts are real kept shares (the type the guard program's output has), from one job
    first = parties.run(
        program, shared, per_rank_kwargs=[{"differencing_guard": p} for p in plans(program, rows, [])]
    )
    kept = [first[rank][guard.kept_name("data_0")] for rank in range(3)]
    cases = {
        "plain": None,
        "guard, no earlier cohort": plans(program, rows, []),
        f"guard, {n_priors} earlier cohorts": plans(program, rows, [kept] * n_priors),
    }
    times: dict[str, list[float]] = {label: [] for label in cases}
    kept_bytes = len(kept[0])
    try:
        for r in range(repeat):
            for label, plan in cases.items():
                kwargs = None if plan is None else [{"differencing_guard": p} for p in plan]
                outcomes = parties.run_outcomes([program] * 3, shared, per_rank_kwargs=kwargs, timeout=7200)
                errors = [o.error for o in outcomes if o.error is not None]
                if errors:
                    raise RuntimeError(f"{label}: {errors}")
                seconds = max(o.seconds for o in outcomes)
                times[label].append(seconds)
                progress(f"repeat {r + 1}/{repeat}: {label}: {seconds:.2f} s")
    finally:
        parties.close()
    med = {label: statistics.median(v) for label, v in times.items()}
    return {
        "rows": rows,
        "earlier_cohorts": n_priors,
        "repeat": repeat,
        "seconds": med,
        "ratio_to_plain": {label: med[label] / med["plain"] for label in med},
        "kept_share_bytes": kept_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--priors", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = measure(args.rows, args.priors, args.repeat, lambda line: print(line, file=sys.stderr))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"joint_stats, {args.rows:,} rows x 4, cohort filter, k = {K}; median of {args.repeat}")
    for label, seconds in result["seconds"].items():
        print(f"  {label:<32} {seconds:8.2f} s   {result['ratio_to_plain'][label]:5.2f}x plain")
    per = result["kept_share_bytes"]
    print(
        f"  a node keeps {per:,} bytes per released job and dataset ({per / args.rows:.1f} bytes per row); "
        f"at max uses U a dataset's history is U x that"
    )


if __name__ == "__main__":
    main()
