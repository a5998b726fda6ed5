"""Benchmark the notarizer: append throughput, proofs at 1M entries, gas per notarized entry on Anvil."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402
from sqlalchemy import create_engine, event  # noqa: E402

from contracts import Ledger, deploy, web3_at  # noqa: E402
from ganache.launcher import DEV_KEYS, LocalChain  # noqa: E402
from notarizer.chainview import ChainCheckpoint  # noqa: E402
from notarizer.log import NewEntry, TransparencyLog, create_tables  # noqa: E402
from notarizer.proofs import MemoryTree, verify_consistency, verify_inclusion  # noqa: E402
from notarizer.verifier import verify_entries  # noqa: E402
from tests.fixtures.postgres import ThrowawayPostgres  # noqa: E402


def _entries(n: int, start: int) -> list[NewEntry]:
    return [
        NewEntry(
            "api.request",
            "0x" + "ab" * 20,
            [f"job:{(start + i) % 1000}"],
            {"method": "POST", "route": "/jobs", "status": 201, "n": start + i},
        )
        for i in range(n)
    ]


def _engine(url: str, wal: bool = False) -> Any:
    engine = create_engine(url)
    if wal:
        # As exchange_api configures SQLite: WAL journal, fsync at checkpoints rather than every commit.
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


def bench_appends(url: str, single: int, batched: int, batch: int, wal: bool = False) -> dict[str, float]:
    """Sustained appends/s on a fresh database: one transaction per entry, and append_many batches."""
    engine = _engine(url, wal)
    create_tables(engine)
    log = TransparencyLog(engine)
    t0 = time.perf_counter()
    for e in _entries(single, 0):
        log.append(e.kind, e.actor, e.subjects, e.payload)
    single_rate = single / (time.perf_counter() - t0)
    t0, c0 = time.perf_counter(), time.process_time()
    for lo in range(0, batched, batch):
        log.append_many(_entries(min(batch, batched - lo), single + lo))
    batched_rate = batched / (time.perf_counter() - t0)
    # The machine is shared: the rate per CPU-second of this process is the figure load does not skew
    # (for PostgreSQL the server's own CPU is not counted in it).
    batched_cpu_rate = batched / max(time.process_time() - c0, 1e-9)
    engine.dispose()
    return {
        "single_per_s": round(single_rate),
        "batched_per_s": round(batched_rate),
        "batched_per_cpu_s": round(batched_cpu_rate),
        "batch": batch,
        "batched_vs_single": round(batched_rate / single_rate, 1),
    }


def bench_proofs(url: str, size: int, samples: int) -> dict[str, Any]:
    """Build a log of `size` entries, then time proof generation (cold and warm cache) and verification."""
    engine = create_engine(url)
    create_tables(engine)
    log = TransparencyLog(engine)
    t0, c0 = time.perf_counter(), time.process_time()
    for lo in range(0, size, 10_000):
        log.append_many(_entries(min(10_000, size - lo), lo))
    build_s = time.perf_counter() - t0
    build_cpu_s = time.process_time() - c0
    rng = random.Random(7)
    idx = [rng.randrange(size) for _ in range(samples)]
    root = log.root()
    leaves = {i: log.entry(i).leaf_hash for i in idx}

    def timed(fn) -> tuple[float, Any]:
        t = time.perf_counter()
        out = fn()
        return (time.perf_counter() - t) * 1000, out

    cold_log = TransparencyLog(engine)  # an empty node cache, as right after a restart
    cold = [timed(lambda i=i: cold_log.inclusion_proof(i, size))[0] for i in idx]
    warm_results = [timed(lambda i=i: log.inclusion_proof(i, size)) for i in idx]
    warm = [t for t, _ in warm_results]
    verify_ms = []
    for i, (_, proof) in zip(idx, warm_results, strict=True):
        t = time.perf_counter()
        assert verify_inclusion(i, size, leaves[i], proof, root)
        verify_ms.append((time.perf_counter() - t) * 1000)
    olds = [rng.randrange(1, size) for _ in range(samples)]
    cons = []
    for old in olds[: samples // 4]:
        ms, proof = timed(lambda old=old: log.consistency_proof(old, size))
        cons.append(ms)
        assert verify_consistency(old, size, log.root(old), root, proof)
    # Baseline in the same run: recompute the root from every stored leaf, as a tree without stored
    # subtree hashes would have to for each proof.
    t = time.perf_counter()
    baseline_root = MemoryTree(log.leaf_hashes(0, size)).root()
    baseline_ms = (time.perf_counter() - t) * 1000
    assert baseline_root == root
    # The regulator's full check: export every entry and verify it against a checkpoint every 10k entries.
    t = time.perf_counter()
    exported = [e.to_json() for e in log.iter_entries()]
    export_s = time.perf_counter() - t
    cps = [ChainCheckpoint(k, s, log.root(s), 0, 0) for k, s in enumerate(range(10_000, size + 1, 10_000))]
    t = time.perf_counter()
    report = verify_entries(exported, cps)
    verify_log_s = time.perf_counter() - t
    assert report.ok, report.errors[:3]
    del exported
    engine.dispose()
    med = statistics.median
    return {
        "entries": size,
        "export_s": round(export_s, 1),
        "verify_whole_log_s": round(verify_log_s, 1),
        "build_s": round(build_s, 1),
        "build_per_s": round(size / build_s),
        "build_per_cpu_s": round(size / build_cpu_s),
        "inclusion_ms_median_warm": round(med(warm), 3),
        "inclusion_ms_p99_warm": round(sorted(warm)[int(0.99 * len(warm)) - 1], 3),
        "inclusion_ms_median_cold": round(med(cold), 3),
        "verify_inclusion_ms_median": round(med(verify_ms), 4),
        "consistency_ms_median": round(med(cons), 3),
        "baseline_full_recompute_ms": round(baseline_ms, 1),
        "baseline_vs_proof": round(baseline_ms / med(warm)),
    }


def bench_gas(interval: int, naive_txs: int) -> dict[str, Any]:
    """Gas of real anchor transactions on Anvil vs. one transaction per entry."""
    operator = Account.from_key(DEV_KEYS[0])
    with LocalChain.start("anvil") as node:
        w3 = web3_at(node.rpc_url)
        ledger = Ledger(w3, deploy(w3, operator))
        rng = random.Random(1)
        anchors = [
            ledger.notary.anchor(operator, interval * (k + 1), rng.randbytes(32)).gas_used for k in range(6)
        ]
        base = interval * 6
        naive = [
            ledger.notary.anchor(operator, base + k + 1, rng.randbytes(32)).gas_used for k in range(naive_txs)
        ]
    # The first anchor of a deployment also initializes the Notary's head slot; every later anchor
    # writes one fresh root slot and rewrites the head, so the steady cost is the mean after the first.
    steady = statistics.mean(anchors[1:5])
    naive_per_entry = statistics.mean(naive)
    return {
        "interval": interval,
        "anchor_gas_first": anchors[0],
        "anchor_gas_later": anchors[1:],
        "anchor_gas_steady_mean": round(steady),
        "gas_per_entry": round(steady / interval, 3),
        "naive_gas_per_entry": round(naive_per_entry),
        "naive_vs_batched": round(naive_per_entry / (steady / interval)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000, help="log size for the proof benchmark")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--single", type=int, default=2000, help="single appends to time")
    parser.add_argument("--batched", type=int, default=100_000, help="batched appends to time")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=10_000, help="entries per checkpoint")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-chain", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--no-proofs", action="store_true", help="skip building the large log")
    args = parser.parse_args()

    results: dict[str, Any] = {"load_average_at_start": list(os.getloadavg())}
    with tempfile.TemporaryDirectory(prefix="dx-bench-") as tmp:
        results["append_sqlite"] = bench_appends(
            f"sqlite:///{tmp}/a.db", args.single, args.batched, args.batch
        )
        results["append_sqlite_wal"] = bench_appends(
            f"sqlite:///{tmp}/w.db", args.single, args.batched, args.batch, wal=True
        )
        if not args.no_postgres:
            pg = ThrowawayPostgres().start()
            try:
                results["append_postgres"] = bench_appends(
                    pg.create_database(), args.single, args.batched, args.batch
                )
            finally:
                pg.stop()
        if not args.no_proofs:
            results["proofs_sqlite"] = bench_proofs(f"sqlite:///{tmp}/p.db", args.entries, args.samples)
    if not args.no_chain:
        results["gas_anvil"] = bench_gas(args.interval, 20)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for section, values in results.items():
            if not isinstance(values, dict):
                print(f"{section}: {values}")
                continue
            print(f"{section}:")
            for k, v in values.items():
                print(f"  {k:32s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
