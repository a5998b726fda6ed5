"""The differencing guard on real nodes and a real chain: N rows, then the same N minus one, releases nothing,
whoever asks (default scope) or only for the same buyer (scope `buyer`); the nodes keep only sealed shares."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts import JobStatus
from dx_core.roles import Role
from mpc_compute import spu_runtime
from mpc_compute.algorithms import ALGORITHMS
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.output import fetch_result
from mpc_compute.envelope import MAGIC, guard_context, open_bundle, public_bytes
from mpc_compute.manifest import Column
from mpc_compute.policy import Policy
from tests.fixtures.chain import admit_members
from tests.fixtures.cluster import start_chain_cluster
from tests.mpc_compute.node.test_policy_enforcement import CID, Market, wait_ended, write_csv

pytestmark = [pytest.mark.mpc, pytest.mark.chain]

ROWS = 40


class GuardedMarket:
    """A chain cluster, one provider's 40-row table listed as "any" (default scope) and "mine" (scope
    `buyer`), two buyers, and `run` for a joint_stats job over the rows with age >= min_age."""

    def __init__(self, chain, w3, ledger, deployment, dev_accounts, operator, tmp_path) -> None:
        nodes, (owner, vendor, alice, bob) = dev_accounts[13:16], dev_accounts[16:20]
        self.alice, self.bob, self.ledger = alice, bob, ledger
        self.keys = {alice.address: X25519PrivateKey.generate(), bob.address: X25519PrivateKey.generate()}
        admit_members(
            ledger,
            operator,
            [
                (owner, Role.PROVIDER),
                (vendor, Role.ALGORITHM_PROVIDER),
                (alice, Role.BUYER),
                (bob, Role.BUYER),
                *[(n, Role.COMPUTE_NODE) for n in nodes],
            ],
            {a: public_bytes(k) for a, k in self.keys.items()},
        )
        self.cluster = start_chain_cluster(tmp_path, chain, ledger, deployment, operator, nodes)
        self.store = open_blob_source(str(self.cluster.blob_dir))
        m = Market(ledger, w3, self.store, alice, self.keys[alice.address], node_keys=self.cluster.node_keys)
        m.all_owners = [owner, vendor, alice, bob]
        rng = np.random.default_rng(12)
        self.ages = rng.permutation(np.arange(20, 20 + ROWS)).astype(float)  # distinct: a bound drops rows
        rows = [(f"ENT-{k:05d}", a, round(float(rng.normal(5e3, 400)), 2)) for k, a in enumerate(self.ages)]
        path = write_csv(tmp_path / "a.csv", "enterprise_id,age,balance", rows)
        schema = [
            Column("enterprise_id", "text", "id"),
            Column("age", "float64"),
            Column("balance", "float64"),
        ]
        m.list_dataset("any", owner, path, schema, Policy(min_group_size=5))
        m.list_dataset("mine", owner, path, schema, Policy(min_group_size=5, difference_scope="buyer"))
        alg = ALGORITHMS["joint_stats"]
        listed = ledger.market.list_algorithm(vendor, alg.name, alg.version, alg.code_hash, CID, 0)
        m.algorithms["joint_stats"] = listed.event("AlgorithmListed").args["id"]
        self.market = m
        self.balances = np.asarray([r[2] for r in rows])

    def request(self, buyer, dataset: str, min_age: float) -> int:
        m = self.market
        m.buyer, m.receiver = buyer, self.keys[buyer.address]
        params = {"cohort": {"column": 0, "min": min_age}, "min_cohort": 5}
        return m.request("joint_stats", "joint_stats", [m.input("data_0", dataset, "features")], params)

    def result(self, buyer, job_id: int) -> dict:
        # the guard refuses obliviously: the job completes and is paid, its outputs read zero
        assert wait_ended(self.ledger, job_id) is JobStatus.COMPLETED
        self.cluster.wait(job_id)
        attestations = self.ledger.jobs.attestations(job_id)
        out = fetch_result(job_id, attestations, self.keys[buyer.address], self.store)
        return {"job": job_id, **{k: np.asarray(v) for k, v in out.items()}}

    def run(self, buyer, dataset: str, min_age: float) -> dict:
        return self.result(buyer, self.request(buyer, dataset, min_age))


@pytest.fixture
def guarded(chain, w3, ledger, deployment, dev_accounts, operator, chain_snapshot, tmp_path):
    market = GuardedMarket(chain, w3, ledger, deployment, dev_accounts, operator, tmp_path)
    try:
        yield market
    finally:
        market.cluster.stop()


def test_one_row_less_releases_nothing_across_buyers_and_nodes_keep_only_shares(guarded, tmp_path) -> None:
    alice, bob, run = guarded.alice, guarded.bob, guarded.run
    ages, balances, cluster, m = guarded.ages, guarded.balances, guarded.cluster, guarded.market
    youngest = float(ages.min())
    first = run(alice, "any", youngest)
    assert first["released"] == 1 and first["differencing_refused"] == 0
    assert float(first["sum"][1]) == pytest.approx(balances.sum(), rel=1e-5)
    # another buyer asks for everyone but the youngest: the subtraction would give that row's balance
    second = run(bob, "any", youngest + 0.5)
    assert second["released"] == 0 and second["differencing_refused"] == 1
    assert not np.any(second["sum"]) and float(second["count"]) == 0

    # scope `buyer`: the same pair from two buyers passes, from one buyer it does not
    run(alice, "mine", youngest)
    bob_minus_one = run(bob, "mine", youngest + 0.5)
    assert bob_minus_one["released"] == 1
    assert float(bob_minus_one["sum"][1]) == pytest.approx(balances[ages > youngest].sum(), rel=1e-5)
    alice_minus_one = run(alice, "mine", youngest + 0.5)
    assert alice_minus_one["released"] == 0 and alice_minus_one["differencing_refused"] == 1

    # what a node keeps: sealed bundles of shares, and ids, never bits
    manifest = m.datasets["any"][1].digest().hex()
    bits = (ages >= youngest).astype(np.int64)
    shares = []
    for i, ident in enumerate(cluster.identities):
        folder = tmp_path / "cluster" / f"node{i}" / "guard" / manifest
        meta = json.loads((folder / f"{first['job']}.json").read_text())
        assert set(meta) == {"job_id", "buyer", "rows"} and meta["rows"] == ROWS
        sealed = (folder / f"{first['job']}.sealed").read_bytes()
        assert sealed.startswith(MAGIC)
        shares.append(open_bundle(sealed, ident.x25519, guard_context(manifest, first["job"], i)))
    np.testing.assert_array_equal(np.asarray(spu_runtime.reconstruct(shares)), bits)


def test_two_jobs_at_once_cannot_difference_a_row(guarded) -> None:
    """The attack on nodes that run jobs at once: request "everyone" and "everyone but the youngest"
    together, so that both are queued at the same time. Run side by side, neither guard would see the
    other's cohort and the two sums would give the youngest's balance; jobs over one guarded dataset
    share its lane and run one after the other, so the second is refused."""
    youngest = float(guarded.ages.min())
    first = guarded.request(guarded.alice, "any", youngest)
    second = guarded.request(guarded.bob, "any", youngest + 0.5)
    a, b = guarded.result(guarded.alice, first), guarded.result(guarded.bob, second)
    assert a["released"] == 1 and float(a["sum"][1]) == pytest.approx(guarded.balances.sum(), rel=1e-5)
    assert b["released"] == 0 and b["differencing_refused"] == 1 and not np.any(b["sum"])
    for i in range(3):
        timeline = {e["stage"]: e["at"] for e in guarded.cluster.status(i, first)["timeline"]}
        later = {e["stage"]: e["at"] for e in guarded.cluster.status(i, second)["timeline"]}
        assert later["turn"] >= timeline["destroyed"], "the second job's turn came before the first ended"
