"""The privacy budget on real nodes and a real chain: a job over a budgeted dataset that would release
without the reserved ε is refused on-chain with rule privacy-budget and gives its ε back; the job with
the reserved ε runs and keeps it spent."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts import JobStatus
from dx_core.roles import Role
from mpc_compute.algorithms import ALGORITHMS
from mpc_compute.blob_source import open_blob_source
from mpc_compute.envelope import public_bytes
from mpc_compute.manifest import Column
from tests.fixtures.chain import admit_members
from tests.fixtures.cluster import start_chain_cluster
from tests.mpc_compute.node.test_policy_enforcement import CID, Market, refusal, wait_ended, write_csv

pytestmark = [pytest.mark.mpc, pytest.mark.chain]
PER_JOB = 400_000  # ε 0.4


def test_nodes_refuse_a_budgeted_job_without_its_epsilon(
    chain, w3, ledger, deployment, dev_accounts, operator, chain_snapshot, tmp_path
) -> None:
    nodes, (p1, vendor, buyer) = dev_accounts[13:16], dev_accounts[16:19]
    receiver = X25519PrivateKey.generate()
    admit_members(
        ledger,
        operator,
        [(p1, Role.PROVIDER), (vendor, Role.ALGORITHM_PROVIDER), (buyer, Role.BUYER),
         *[(n, Role.COMPUTE_NODE) for n in nodes]],
        {buyer.address: public_bytes(receiver)},
    )
    cluster = start_chain_cluster(tmp_path, chain, ledger, deployment, operator, nodes)
    try:
        store = open_blob_source(str(cluster.blob_dir))
        m = Market(ledger, w3, store, buyer, receiver, node_keys=cluster.node_keys, all_owners=[p1, vendor])
        rng = np.random.default_rng(5)
        rows = [(f"ENT-{k:05d}", round(float(rng.uniform(20, 60)), 3)) for k in range(40)]
        path = write_csv(tmp_path / "a.csv", "enterprise_id,age", rows)
        ds = m.list_dataset("a", p1, path, [Column("enterprise_id", "text", "id"), Column("age", "float64")])
        market = ledger.market
        market.set_privacy_budget(p1, ds, 1_000_000, PER_JOB)
        alg = ALGORITHMS["joint_stats"]
        m.algorithms["joint_stats"] = (
            market.list_algorithm(vendor, alg.name, alg.version, alg.code_hash, CID, 0)
            .event("AlgorithmListed")
            .args["id"]
        )
        data = [m.input("data_0", "a", "features")]

        # the buyer asks for the exact statistics: the chain reserved 0.4, the nodes refuse
        exact = m.request("joint_stats", "joint_stats", data, {"min_cohort": 10})
        assert market.privacy_budget(ds).spent_micro_eps == PER_JOB
        assert wait_ended(ledger, exact) is JobStatus.REFUSED
        assert refusal(ledger, exact)["rule"] == "privacy-budget"
        assert market.privacy_budget(ds).spent_micro_eps == 0 and market.reserved_epsilon(exact, ds) == 0

        # less noise than was charged: refused the same way
        less = m.request("joint_stats", "joint_stats", data,
                         {"min_cohort": 10, "dp_epsilon": 0.8, "dp_bounds": {"0": [0, 100]}})
        assert wait_ended(ledger, less) is JobStatus.REFUSED
        assert refusal(ledger, less)["rule"] == "privacy-budget"

        # the reserved ε: the job runs and its ε stays spent
        noised = m.request("joint_stats", "joint_stats", data,
                           {"min_cohort": 10, "dp_epsilon": 0.4, "dp_bounds": {"0": [0, 100]}})
        assert wait_ended(ledger, noised) is JobStatus.COMPLETED
        assert market.privacy_budget(ds).spent_micro_eps == PER_JOB
    finally:
        cluster.stop()
