"""Benchmark of the whole job path (chain, three real nodes, sealed shares) against raw SPU, in one run.

    .venv/bin/python scripts/bench_job.py [--small-rows 300] [--small-jobs 5] [--rows 1000000] [--json]

Starts Anvil, deploys the contracts, and starts three node processes (`python -m mpc_compute.node`,
watching the chain, SPU links on loopback). A provider shares a dataset of N rows x 8 float columns
to the nodes' keys; a buyer requests joint_stats over it; the owners approve; the nodes run it and
attest; the buyer fetches and opens its result, which is checked against float64 numpy.

For each size, in the same run:
- `job path`: from the job's AUTHORIZED status (approvals excluded, as with a pre-approving policy) to
  the reconstructed result in the buyer's process: the nodes' chain watch, worker start, share
  decryption and checks, rendezvous and link, the run, sealing, attestations and the fetch;
- `raw SPU`: the same compiled program (same program hash) on three fresh SPU party processes
  (`LocalParties`: process start, link and run), on shares made in memory: the floor the job path
  is measured against. The ratio is job path / raw SPU.
Small jobs: median and max of --small-jobs; the large job runs once (--rows 0 skips it).
Default: 300-row jobs x 5 and one 1,000,000-row job, about 4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account import Account

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contracts import JobStatus, Ledger, deploy, web3_at  # noqa: E402
from dx_core.roles import Role  # noqa: E402
from ganache.launcher import DEV_KEYS, LocalChain  # noqa: E402
from mpc_compute import spu_runtime  # noqa: E402
from mpc_compute.algorithms import ALGORITHMS, compile_program  # noqa: E402
from mpc_compute.blob_source import open_blob_source  # noqa: E402
from mpc_compute.clients.input import share_dataset  # noqa: E402
from mpc_compute.clients.output import fetch_result  # noqa: E402
from mpc_compute.envelope import public_bytes  # noqa: E402
from mpc_compute.job_spec import JobInput, JobSpec, compile_for, input_shapes  # noqa: E402
from mpc_compute.manifest import Column  # noqa: E402
from tests.fixtures.chain import admit_members  # noqa: E402
from tests.fixtures.cluster import start_chain_cluster  # noqa: E402
from tests.fixtures.local_parties import LocalParties  # noqa: E402

CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
COLUMNS = [f"x{k}" for k in range(8)]
PARAMS = {"min_cohort": 10}


class Exchange:
    """One chain, one cluster (`lanes` jobs at once), one provider, one vendor and `buyers` buyers."""

    def __init__(self, work: Path, buyers: int = 1, lanes: int = 2) -> None:
        self.chain = LocalChain.start("anvil")
        self.w3 = web3_at(self.chain.rpc_url, timeout=120)
        accounts = [Account.from_key(k) for k in DEV_KEYS]
        self.operator, self.owner, self.vendor = accounts[:3]
        nodes = accounts[3:6]
        self.buyers = accounts[6 : 6 + buyers]
        self.buyer = self.buyers[0]
        self.deployment = deploy(self.w3, self.operator)
        self.ledger = Ledger(self.w3, self.deployment)
        self.receivers = {b.address: X25519PrivateKey.generate() for b in self.buyers}
        self.receiver = self.receivers[self.buyer.address]
        admit_members(
            self.ledger,
            self.operator,
            [
                (self.owner, Role.PROVIDER),
                (self.vendor, Role.ALGORITHM_PROVIDER),
                *[(b, Role.BUYER) for b in self.buyers],
                *[(n, Role.COMPUTE_NODE) for n in nodes],
            ],
            {a: public_bytes(r) for a, r in self.receivers.items()},
        )
        self.cluster = start_chain_cluster(
            work, self.chain, self.ledger, self.deployment, self.operator, nodes, lanes=lanes
        )
        self.store = open_blob_source(str(self.cluster.blob_dir))
        alg = ALGORITHMS["joint_stats"]
        listed = self.ledger.market.list_algorithm(self.vendor, alg.name, alg.version, alg.code_hash, CID, 0)
        self.algorithm_id = listed.event("AlgorithmListed").args["id"]

    def stop(self) -> None:
        self.cluster.stop()
        self.chain.stop()

    def list_dataset(self, data: np.ndarray, work: Path) -> tuple[int, object]:
        path = work / f"data-{len(data)}.npy"
        np.save(path, data)
        schema = [Column(c, "float64") for c in COLUMNS]
        shared = share_dataset(path, schema, self.cluster.node_keys, self.store, chunk_rows=250_000)
        listed = self.ledger.market.list_dataset(self.owner, CID, shared.manifest_hash, 0, max_uses=0)
        return listed.event("DatasetListed").args["id"], shared.manifest

    def spec(self, dataset_id: int, manifest, buyer=None) -> tuple[JobSpec, dict]:
        alg = ALGORITHMS["joint_stats"]
        buyer = buyer or self.buyer
        manifests = {manifest.digest().hex(): manifest}
        data = JobInput("data_0", "dataset", dataset_id, manifest.digest().hex(), "features", None)
        key = public_bytes(self.receivers[buyer.address]).hex()
        draft = JobSpec(alg.name, alg.version, (data,), (), buyer.address, key, PARAMS)
        outputs = compile_program(alg.name, input_shapes(draft, manifests), PARAMS).output_names
        spec = JobSpec(alg.name, alg.version, (data,), tuple(outputs), buyer.address, key, PARAMS)
        return spec, manifests

    def authorize_job(self, dataset_id: int, manifest, buyer=None) -> tuple[int, float, float]:
        """Request and approve a job (as a pre-approving policy would): its id, the request's and the
        approvals' seconds."""
        jobs = self.ledger.jobs
        buyer = buyer or self.buyer
        spec, manifests = self.spec(dataset_id, manifest, buyer)
        t0 = time.perf_counter()
        self.store.put(spec.to_bytes())
        value = jobs.escrow_for([dataset_id], self.algorithm_id, buyer.address, self.ledger.market)
        deadline = int(self.w3.eth.get_block("latest")["timestamp"]) + 3600
        program_hash = compile_for(spec, manifests).program_hash
        key = public_bytes(self.receivers[buyer.address])
        req = jobs.request(
            buyer, [dataset_id], self.algorithm_id, spec.digest(), program_hash, key, deadline, value
        )
        job_id = req.event("JobRequested").args["jobId"]
        t1 = time.perf_counter()
        jobs.approve(self.owner, job_id)
        jobs.approve(self.vendor, job_id)
        assert jobs.job(job_id).status is JobStatus.AUTHORIZED
        return job_id, t1 - t0, time.perf_counter() - t1

    def await_completion(self, job_id: int) -> None:
        while (status := self.ledger.jobs.job(job_id).status) is JobStatus.AUTHORIZED:
            time.sleep(0.05)
        if status is not JobStatus.COMPLETED:
            raise RuntimeError(
                f"job {job_id} ended {status.name}: {[s['error'] for s in self.cluster.wait(job_id)]}"
            )

    def fetch(self, job_id: int, buyer=None) -> dict:
        self.cluster.wait(job_id)  # each node publishes its sealed share once it sees COMPLETED
        receiver = self.receivers[(buyer or self.buyer).address]
        return fetch_result(job_id, self.ledger.jobs.attestations(job_id), receiver, self.store)

    def run_job(self, dataset_id: int, manifest) -> tuple[dict, dict[str, float]]:
        """Request, approve, wait, fetch: the phases' seconds and the opened result."""
        job_id, request_s, approvals_s = self.authorize_job(dataset_id, manifest)
        t2 = time.perf_counter()
        self.await_completion(job_id)
        t3 = time.perf_counter()
        out = self.fetch(job_id)
        t4 = time.perf_counter()
        phases = {
            "request": request_s,
            "approvals": approvals_s,
            "run": t3 - t2,
            "result": t4 - t3,
            "path": t4 - t2,
        }
        return out, phases


def raw_spu(spec: JobSpec, manifests: dict, data: np.ndarray) -> float:
    """The same program on three fresh SPU processes (start, link, run): the slowest party's wall time."""
    program = compile_for(spec, manifests)
    (name, shape, dtype), *_ = input_shapes(spec, manifests)
    array = data.astype(dtype).reshape(shape)
    per_rank: list[dict[str, bytes]] = [{}, {}, {}]
    for rank, share in enumerate(spu_runtime.make_shares(array)):
        per_rank[rank][name] = share
    t0 = time.perf_counter()
    outcomes = LocalParties().run_outcomes([program] * 3, per_rank, timeout=3600)
    wall = time.perf_counter() - t0
    errors = [o.error for o in outcomes if o.error is not None]
    if errors:
        raise RuntimeError(f"raw SPU failed: {errors}")
    return wall


def check(out: dict, data: np.ndarray) -> float:
    """The released sums against float64 numpy; returns the worst relative error."""
    want = data.sum(axis=0)
    got = np.asarray(out["sum"], dtype=np.float64)
    if int(np.asarray(out["released"])) != 1:
        raise RuntimeError("the job released nothing")
    err = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1.0)))
    if err > 1e-3:
        raise RuntimeError(f"sums differ from numpy by {err:.2e}")
    return err


def measure(ex: Exchange, rows: int, jobs: int, work: Path, progress) -> dict:
    rng = np.random.default_rng(rows)
    data = np.column_stack([rng.normal(50 + 5 * k, 10 + k, rows) for k in range(8)]).round(3)
    t0 = time.perf_counter()
    dataset_id, manifest = ex.list_dataset(data, work)
    publish_s = time.perf_counter() - t0
    spec, manifests = ex.spec(dataset_id, manifest)
    paths, raws, errs, phases = [], [], [], []
    for k in range(jobs):
        out, ph = ex.run_job(dataset_id, manifest)
        errs.append(check(out, data))
        raws.append(raw_spu(spec, manifests, data))
        paths.append(ph["path"])
        phases.append(ph)
        progress(f"  {rows:,} rows, job {k + 1}/{jobs}: path {ph['path']:.2f} s, raw SPU {raws[-1]:.2f} s")
    med = {key: round(statistics.median(p[key] for p in phases), 3) for key in phases[0]}
    return {
        "rows": rows,
        "jobs": jobs,
        "publish_s": round(publish_s, 2),
        "path_median_s": round(statistics.median(paths), 3),
        "path_max_s": round(max(paths), 3),
        "raw_spu_median_s": round(statistics.median(raws), 3),
        "ratio": round(statistics.median(paths) / statistics.median(raws), 2),
        "phases_median_s": med,
        "max_rel_error": float(f"{max(errs):.2e}"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: .venv/bin/python scripts/bench_job.py --small-jobs 3 --rows 0",
    )
    p.add_argument("--small-rows", type=int, default=300)
    p.add_argument("--small-jobs", type=int, default=5)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows of the large job (0: skip it)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-job-") as tmp:
        work = Path(tmp)
        progress("starting Anvil and three nodes…")
        ex = Exchange(work)
        try:
            results.append(measure(ex, args.small_rows, args.small_jobs, work, progress))
            if args.rows:
                results.append(measure(ex, args.rows, 1, work, progress))
        finally:
            ex.stop()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"{'rows':>10} {'jobs':>4} {'job path':>9} {'max':>7} {'raw SPU':>8} {'ratio':>6}  phases (median s)"
    )
    for r in results:
        ph = r["phases_median_s"]
        print(
            f"{r['rows']:>10,} {r['jobs']:>4} {r['path_median_s']:>8.2f}s {r['path_max_s']:>6.2f}s "
            f"{r['raw_spu_median_s']:>7.2f}s {r['ratio']:>5.2f}x  request {ph['request']:.2f}, approvals "
            f"{ph['approvals']:.2f}, run {ph['run']:.2f}, result {ph['result']:.2f}; "
            f"publish {r['publish_s']:.1f}s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
