"""Owner control on real nodes and a real chain: each attack a buyer would try is refused by the nodes, the
refusal names the rule and lands on-chain (escrow back, uses back); allowed jobs run, with oblivious
suppression of small histogram bins, and the ID-lookup cap counts the jobs that ran."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts import JobStatus
from dx_core.roles import Role
from mpc_compute.algorithms import ALGORITHMS, compile_program
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.input import share_dataset, share_model
from mpc_compute.clients.output import fetch_result
from mpc_compute.envelope import public_bytes
from mpc_compute.job_spec import JobInput, JobSpec, input_shapes, program_hash_for
from mpc_compute.manifest import Column
from mpc_compute.policy import IdLookupCaps, Policy
from tests.fixtures.chain import admit_members
from tests.fixtures.cluster import start_chain_cluster

pytestmark = [pytest.mark.mpc, pytest.mark.chain]

CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


@dataclass
class Market:
    """The listings of the scenario: dataset id -> (manifest, owner), algorithm name -> listing id."""

    ledger: object
    w3: object
    store: object
    buyer: object
    receiver: X25519PrivateKey
    datasets: dict[str, tuple[int, object]] = field(default_factory=dict)
    algorithms: dict[str, int] = field(default_factory=dict)
    manifests: dict[str, object] = field(default_factory=dict)
    owners: dict[str, object] = field(default_factory=dict)

    def list_dataset(self, name, owner, path, schema, policy: Policy | None = None) -> int:
        shared = share_dataset(path, schema, self.node_keys, self.store, chunk_rows=40)
        policy = policy or Policy()
        if policy != Policy():
            self.store.put(policy.to_bytes())
        ds = (
            self.ledger.market.list_dataset(
                owner, CID, shared.manifest_hash, 0, policy_hash=policy.chain_hash()
            )
            .event("DatasetListed")
            .args["id"]
        )
        self.datasets[name] = (ds, shared.manifest)
        self.manifests[shared.manifest_hash.hex()] = shared.manifest
        self.owners[name] = owner
        return ds

    def input(self, role: str, dataset: str, array: str, columns=None) -> JobInput:
        ds, manifest = self.datasets[dataset]
        return JobInput(role, "dataset", ds, manifest.digest().hex(), array, columns)

    def request(self, algorithm: str, listing: str, inputs: list[JobInput], params: dict) -> int:
        """The job as a buyer would send it: a spec for `algorithm`, bought as algorithm listing `listing`."""
        alg = ALGORITHMS[algorithm]
        spec = JobSpec(
            alg.name,
            alg.version,
            tuple(inputs),
            (),
            self.buyer.address,
            public_bytes(self.receiver).hex(),
            params,
        )
        outputs = compile_program(alg.name, input_shapes(spec, self.manifests), params).output_names
        spec = JobSpec(
            alg.name,
            alg.version,
            tuple(inputs),
            tuple(outputs),
            self.buyer.address,
            public_bytes(self.receiver).hex(),
            params,
        )
        self.store.put(spec.to_bytes())
        ids = list(dict.fromkeys(i.listing_id for i in inputs if i.kind == "dataset"))
        alg_id = self.algorithms[listing]
        jobs = self.ledger.jobs
        value = jobs.escrow_for(ids, alg_id, self.buyer.address, self.ledger.market)
        deadline = int(self.w3.eth.get_block("latest")["timestamp"]) + 3600
        job_id = (
            jobs.request(
                self.buyer,
                ids,
                alg_id,
                spec.digest(),
                program_hash_for(spec, self.manifests),
                public_bytes(self.receiver),
                deadline,
                value,
            )
            .event("JobRequested")
            .args["jobId"]
        )
        self.spec_of[job_id] = spec
        owners = {o.address.lower(): o for o in self.all_owners}
        for owner in dict.fromkeys(a.lower() for a in jobs.terms(job_id).owners):
            if owner != self.buyer.address.lower():
                jobs.approve(owners[owner], job_id)
        assert jobs.job(job_id).status is JobStatus.AUTHORIZED
        return job_id

    node_keys: list = field(default_factory=list)
    all_owners: list = field(default_factory=list)
    spec_of: dict = field(default_factory=dict)


def wait_ended(ledger, job_id: int, timeout: float = 180.0) -> JobStatus:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = ledger.jobs.job(job_id).status
        if status is not JobStatus.AUTHORIZED:
            return status
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} is still AUTHORIZED after {timeout}s")


def refusal(ledger, job_id: int) -> dict:
    events = [
        e
        for e in ledger.events(ledger.deployment.blocks.get("ComputeJobs", 0))
        if e.event == "JobRefused" and e.args["jobId"] == job_id
    ]
    assert len(events) == 1, events
    return events[0].args


def write_csv(path, header: str, rows) -> object:
    with path.open("w") as fh:
        fh.write(header + "\n")
        for r in rows:
            fh.write(",".join(str(v) for v in r) + "\n")
    return path


def test_nodes_enforce_listing_policies(
    chain, w3, ledger, deployment, dev_accounts, operator, chain_snapshot, tmp_path
) -> None:
    nodes, (p1, p2, vendor, buyer) = dev_accounts[13:16], dev_accounts[16:20]
    receiver = X25519PrivateKey.generate()
    admit_members(
        ledger,
        operator,
        [
            (p1, Role.PROVIDER),
            (p2, Role.PROVIDER),
            (vendor, Role.ALGORITHM_PROVIDER),
            (buyer, Role.BUYER | Role.PROVIDER),
            *[(n, Role.COMPUTE_NODE) for n in nodes],
        ],
        {buyer.address: public_bytes(receiver)},
    )
    cluster = start_chain_cluster(tmp_path, chain, ledger, deployment, operator, nodes)
    try:
        store = open_blob_source(str(cluster.blob_dir))
        m = Market(
            ledger,
            w3,
            store,
            buyer,
            receiver,
            node_keys=cluster.node_keys,
            all_owners=[p1, p2, vendor, buyer],
        )
        rng = np.random.default_rng(3)
        people = [f"ENT-{k:05d}" for k in rng.choice(99_999, 60, replace=False)]
        idschema = [Column("enterprise_id", "text", "id")]
        a_rows = [
            (e, round(float(rng.normal(40, 12)), 3), round(float(rng.normal(5e3, 400)), 2)) for e in people
        ]
        a_path = write_csv(tmp_path / "a.csv", "enterprise_id,age,balance", a_rows)
        schema = [*idschema, Column("age", "float64"), Column("balance", "float64")]
        m.list_dataset("a", p1, a_path, schema)  # the default policy: k = 10, IDs join keys only
        m.list_dataset("b", p2, a_path, schema, Policy(columns={"balance": "not_usable"}))
        m.list_dataset("one", p2, write_csv(tmp_path / "one.csv", "enterprise_id", [[people[0]]]), idschema)
        blacklist = people[:30]
        m.list_dataset(
            "blacklist",
            p2,
            write_csv(tmp_path / "bl.csv", "enterprise_id", [[e] for e in blacklist]),
            idschema,
            Policy(id_lookups=IdLookupCaps(per_job=6, per_period=9, period_seconds=3600)),
        )
        queries = [*people[25:31], "ENT-99999"]  # 7 IDs: one over the per-job cap
        m.list_dataset(
            "q7", buyer, write_csv(tmp_path / "q7.csv", "enterprise_id", [[e] for e in queries]), idschema
        )
        m.list_dataset(
            "q6", buyer, write_csv(tmp_path / "q6.csv", "enterprise_id", [[e] for e in queries[:6]]), idschema
        )
        market = ledger.market
        for name in ("joint_stats", "psi_stats", "blacklist_match"):
            alg = ALGORITHMS[name]
            m.algorithms[name] = (
                market.list_algorithm(vendor, alg.name, alg.version, alg.code_hash, CID, 0)
                .event("AlgorithmListed")
                .args["id"]
            )
        # a vendor lists multi_lender with a secret model attached, to smuggle the weights out as loan amounts
        model = share_model({"model": np.asarray([0.5, -1.0, 2.0])}, cluster.node_keys, store)
        m.manifests[model.manifest_hash.hex()] = model.manifest
        lender = ALGORITHMS["multi_lender"]
        m.algorithms["multi_with_model"] = (
            market.list_algorithm(
                vendor, lender.name, lender.version, lender.code_hash, CID, 0, model.manifest_hash
            )
            .event("AlgorithmListed")
            .args["id"]
        )
        three = [[e] for e in people[:3]]
        m.list_dataset("three", p2, write_csv(tmp_path / "three.csv", "enterprise_id", three), idschema)
        m.list_dataset("q3", buyer, write_csv(tmp_path / "q3.csv", "enterprise_id", three), idschema)
        a_uses = market.dataset(m.datasets["a"][0]).uses

        attacks = {
            # approved as psi_stats, runs joint_stats
            "algorithm-binding": (
                "joint_stats",
                "psi_stats",
                [m.input("data_0", "a", "features")],
                {"min_cohort": 10},
            ),
            # a cohort one record wide, with the buyer's floor at zero
            "min-group-size": (
                "joint_stats",
                "joint_stats",
                [m.input("data_0", "a", "features")],
                {"cohort": {"column": 0, "min": a_rows[0][1], "max": a_rows[0][1] + 1e-3}, "min_cohort": 0},
            ),
            # a listing's not_usable column in an aggregate
            "column-rule": (
                "joint_stats",
                "joint_stats",
                [m.input("data_0", "b", "features")],
                {"min_cohort": 10},
            ),
            # 7 IDs probed against a listing that allows 6 per job
            "id-lookups-per-job": (
                "blacklist_match",
                "blacklist_match",
                [m.input("queries", "q7", "id"), m.input("blacklist", "blacklist", "id")],
                {},
            ),
        }
        refused_jobs = {}
        for rule, (algorithm, listing, inputs, params) in attacks.items():
            refused_jobs[rule] = m.request(algorithm, listing, inputs, params)
        # the model's secret weights fed into multi_lender's data role, to come out as "loan amounts"
        model_input = JobInput(
            "loan_amounts_0", "model", m.algorithms["multi_with_model"], model.manifest_hash.hex(), "model"
        )
        refused_jobs["role-kind"] = m.request(
            "multi_lender",
            "multi_with_model",
            [m.input("applicants", "q3", "id"), m.input("loan_ids_0", "three", "id"), model_input],
            {},
        )
        # an intersection of one ID
        refused_jobs["min-group-size/psi"] = m.request(
            "psi_stats",
            "psi_stats",
            [m.input("left_ids", "one", "id"), m.input("right_ids", "a", "id")],
            {"min_intersection": 0},
        )

        for rule, job_id in refused_jobs.items():
            balance = ledger.jobs.balance_of(buyer.address)
            assert wait_ended(ledger, job_id) is JobStatus.REFUSED, rule
            args = refusal(ledger, job_id)
            assert args["rule"] == rule.split("/")[0], (rule, args)
            assert args["refund"] == ledger.jobs.terms(job_id).escrow
            assert ledger.jobs.balance_of(buyer.address) >= balance
            # the node that refused says why; no node ran it (the others may never have started it)
            states = [cluster.status(i, job_id) for i in range(3)]
            assert not any(s["status"] == "succeeded" for s in states), (rule, states)
            assert any(s["status"] == "refused" for s in states), (rule, states)
        assert market.dataset(m.datasets["a"][0]).uses == a_uses  # refused jobs gave their uses back

        # allowed: a histogram whose small bins are suppressed obliviously
        ages = np.asarray([r[1] for r in a_rows])
        edges = [0.0, float(np.sort(ages)[0]) + 1e-6, 40.0, 200.0]  # the first bin holds one person
        job_id = m.request(
            "joint_stats",
            "joint_stats",
            [m.input("data_0", "a", "features")],
            {"hist_edges": {"0": edges}, "min_cohort": 10},
        )
        assert wait_ended(ledger, job_id) is JobStatus.COMPLETED
        cluster.wait(job_id)  # the nodes publish their output shares once the job is completed on-chain
        result = fetch_result(
            job_id,
            ledger.jobs.attestations(job_id),
            receiver,
            store,
            expected_addresses=[n.address for n in nodes],
            expected_program_hash=ledger.jobs.terms(job_id).program_hash,
        )
        counts = np.histogram(ages, bins=edges)[0].astype(float)
        assert counts[0] == 1 and (counts[1:] >= 10).all()
        assert list(result["histogram_released"]) == [0.0, 1.0, 1.0]
        assert np.asarray(result["histogram"]) == pytest.approx([0.0, *counts[1:]], abs=1e-3)
        assert float(result["count"]) == pytest.approx(60, abs=1e-3)

        # allowed: 6 lookups; then 6 more within the period pass the per-period cap of 9
        job_id = m.request(
            "blacklist_match",
            "blacklist_match",
            [m.input("queries", "q6", "id"), m.input("blacklist", "blacklist", "id")],
            {},
        )
        assert wait_ended(ledger, job_id) is JobStatus.COMPLETED
        cluster.wait(job_id)
        member = fetch_result(job_id, ledger.jobs.attestations(job_id), receiver, store)["member"]
        assert list(np.asarray(member)) == [1.0 if q in set(blacklist) else 0.0 for q in queries[:6]]
        job_id = m.request(
            "blacklist_match",
            "blacklist_match",
            [m.input("queries", "q6", "id"), m.input("blacklist", "blacklist", "id")],
            {},
        )
        assert wait_ended(ledger, job_id) is JobStatus.REFUSED
        assert refusal(ledger, job_id)["rule"] == "id-lookups-per-period"
    finally:
        cluster.stop()
