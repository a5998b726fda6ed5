"""Nodes on a real chain: an unauthorized job is refused; an authorized one runs and is attested on-chain."""

from __future__ import annotations

import dataclasses
import json

import pytest

from contracts import JobStatus
from dx_core.roles import Role
from mpc_compute import spu_runtime
from mpc_compute.algorithms import ALGORITHMS
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.output import fetch_result
from mpc_compute.job_spec import program_hash_for
from tests.fixtures.cluster import FAST_FAIL, prepare_joint_stats_job, start_cluster

pytestmark = [pytest.mark.mpc, pytest.mark.chain]

CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


def test_unauthorized_refused_authorized_attested(
    chain, w3, ledger, deployment, dev_accounts, operator, chain_snapshot, tmp_path
):
    nodes, (p1, p2, algo, buyer) = dev_accounts[13:16], dev_accounts[16:20]
    reg = ledger.registry
    for account, role in [
        (p1, Role.PROVIDER),
        (p2, Role.PROVIDER),
        (algo, Role.ALGORITHM_PROVIDER),
        (buyer, Role.BUYER),
        *[(n, Role.COMPUTE_NODE) for n in nodes],
    ]:
        if reg.member(account.address) is None:
            reg.admit(operator, account.address, role, b"\x01" * 32, CID)
    reg.register_cluster(operator, [n.address for n in nodes], CID, spu_runtime.config_hash(), 0)
    deployment_file = deployment.save(tmp_path / "deployment.json")
    cluster = start_cluster(
        tmp_path / "cluster",
        accounts=nodes,
        extra_args=[*FAST_FAIL, "--rpc-url", chain.rpc_url, "--deployment", str(deployment_file), "--watch"],
        operator=operator,
        chain_id=deployment.chain_id,
    )
    try:
        job = prepare_joint_stats_job(cluster, tmp_path / "job", rows=(50, 30))
        market = ledger.market
        ids = [
            market.list_dataset(owner, CID, listing.manifest_hash, 0).event("DatasetListed").args["id"]
            for owner, listing in zip((p1, p2), job.listings, strict=True)
        ]
        joint = ALGORITHMS["joint_stats"]
        alg_id = (
            market.list_algorithm(algo, joint.name, joint.version, joint.code_hash, CID, 0)
            .event("AlgorithmListed")
            .args["id"]
        )
        inputs = tuple(
            dataclasses.replace(i, listing_id=d) for i, d in zip(job.spec.inputs, ids, strict=True)
        )
        # listings without a policy of their own require aggregates over at least 10 rows
        params = {**job.spec.params, "min_cohort": 10}
        spec = dataclasses.replace(job.spec, inputs=inputs, receiver_address=buyer.address, params=params)
        program_hash = program_hash_for(spec, job.manifests)
        open_blob_source(str(cluster.blob_dir)).put(spec.to_bytes())
        ledger.registry.rotate_key(buyer, bytes.fromhex(spec.receiver_key))  # the result key is the buyer's
        deadline = int(w3.eth.get_block("latest")["timestamp"]) + 3600
        value = ledger.jobs.escrow_for(ids, alg_id, buyer.address, market)
        job_id = (
            ledger.jobs.request(
                buyer,
                ids,
                alg_id,
                spec.digest(),
                program_hash,
                bytes.fromhex(spec.receiver_key),
                deadline,
                value,
            )
            .event("JobRequested")
            .args["jobId"]
        )

        # requested, not yet approved by the owners: refused at the trigger, and no state is made
        refused = cluster.trigger(job_id, nodes=[0])[0]
        assert refused.status_code == 409, refused.text
        assert "REQUESTED on-chain, not AUTHORIZED" in refused.json()["detail"]
        assert cluster.status(0, job_id)["status"] == "unseen"

        cluster.nodes[2].stop()  # down while the job is authorized: its watcher catches up on restart
        for owner in (p1, p2, algo):
            ledger.jobs.approve(owner, job_id)
        assert ledger.jobs.job(job_id).status is JobStatus.AUTHORIZED
        cluster.nodes[2].start()
        states = cluster.wait(job_id, timeout=180)  # the watchers saw JobAuthorized and ran it
        assert [s["status"] for s in states] == ["succeeded"] * 3, [s["error"] for s in states]
        assert all(s["chain"]["attest"]["tx_hash"] for s in states)

        on_chain = ledger.jobs.job(job_id)
        assert on_chain.status is JobStatus.COMPLETED
        assert on_chain.attested_mask == 0b111 and on_chain.destroyed_mask == 0b111
        # on a chain the node's status shows no more than the chain: no attestation, no output CID
        assert all("attestation" not in s and "destruction" not in s for s in states)
        assert sorted(ledger.jobs.output_share_hashes(job_id)) == [0, 1, 2]
        # the receiver needs no node: the chain's JobAttested records and the blob store are enough
        result = fetch_result(
            job_id,
            ledger.jobs.attestations(job_id),
            job.receiver,
            open_blob_source(str(cluster.blob_dir)),
            expected_addresses=[n.address for n in nodes],
            expected_program_hash=program_hash,
        )
        assert float(result["count"]) == pytest.approx(80, abs=1e-3)
        assert result["mean"] == pytest.approx(job.expected["mean"], rel=1e-3)
    finally:
        cluster.stop()


def test_watcher_state_left_empty_by_a_stop_mid_write_does_not_keep_the_node_down(ledger, tmp_path) -> None:
    """`dx down` stopped a node while it wrote watcher.json; the empty file made every restart exit with a
    JSONDecodeError (CI, test_stack_restart). Now it is written aside and renamed, and an unreadable one
    means scanning again from the deployment, which cannot run a job twice (attested jobs are not pending)."""
    from mpc_compute.node.chain import ChainJobSource

    state = tmp_path / "watcher.json"
    state.write_text("")
    source = ChainJobSource(ledger, 0, state)
    assert source.next_block == ledger.deployment.blocks.get("ComputeJobs", 0)

    triggered: list[int] = []  # what the node service would be asked to start (other tests' jobs, if any)

    class Recorder:
        def trigger(self, job_id: int) -> None:
            triggered.append(job_id)

    source.poll(Recorder())
    assert json.loads(state.read_text())["next_block"] == ledger.w3.eth.block_number + 1
    assert ChainJobSource(ledger, 0, state).next_block == source.next_block
    assert not state.with_suffix(".tmp").exists()
