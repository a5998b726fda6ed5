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


def test_one_row_less_releases_nothing_across_buyers_and_nodes_keep_only_shares(
    chain, w3, ledger, deployment, dev_accounts, operator, chain_snapshot, tmp_path
) -> None:
    nodes, (owner, vendor, alice, bob) = dev_accounts[13:16], dev_accounts[16:20]
    keys = {alice.address: X25519PrivateKey.generate(), bob.address: X25519PrivateKey.generate()}
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
        {a: public_bytes(k) for a, k in keys.items()},
    )
    cluster = start_chain_cluster(tmp_path, chain, ledger, deployment, operator, nodes)
    try:
        store = open_blob_source(str(cluster.blob_dir))
        m = Market(ledger, w3, store, alice, keys[alice.address], node_keys=cluster.node_keys)
        m.all_owners = [owner, vendor, alice, bob]
        rng = np.random.default_rng(12)
        ages = rng.permutation(np.arange(20, 20 + ROWS)).astype(float)  # distinct: a bound drops exact rows
        rows = [(f"ENT-{k:05d}", a, round(float(rng.normal(5e3, 400)), 2)) for k, a in enumerate(ages)]
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
        balances = np.asarray([r[2] for r in rows])

        def run(buyer, dataset: str, min_age: float) -> dict:
            m.buyer, m.receiver = buyer, keys[buyer.address]
            params = {"cohort": {"column": 0, "min": min_age}, "min_cohort": 5}
            job_id = m.request("joint_stats", "joint_stats", [m.input("data_0", dataset, "features")], params)
            # the guard refuses obliviously: the job completes and is paid, its outputs read zero
            assert wait_ended(ledger, job_id) is JobStatus.COMPLETED
            cluster.wait(job_id)
            out = fetch_result(job_id, ledger.jobs.attestations(job_id), keys[buyer.address], store)
            return {"job": job_id, **{k: np.asarray(v) for k, v in out.items()}}

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
    finally:
        cluster.stop()
