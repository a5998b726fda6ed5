"""Deadlines on a real chain: a job too close to its deadline is refused; outputs wait for COMPLETED."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from web3 import Web3

from contracts import JobStatus
from dx_core.cid import cid_from_digest
from dx_core.roles import Role
from mpc_compute import spu_runtime
from mpc_compute.algorithms import ALGORITHMS
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.output import ResultError, fetch_result
from mpc_compute.job_spec import program_hash_for
from tests.fixtures.chain import increase_time
from tests.fixtures.cluster import FAST_FAIL, Cluster, PreparedJob, prepare_joint_stats_job, start_cluster

pytestmark = [pytest.mark.mpc, pytest.mark.chain]

CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


def start_chain_cluster(
    workdir: Path,
    chain,
    ledger,
    deployment,
    operator,
    node_accounts,
    watch: bool,
    members: list,
    per_node_args: list[list[str]] | None = None,
) -> Cluster:
    """Admit `members` (account, role) and the nodes, register them as the cluster, start them."""
    reg = ledger.registry
    for account, role in [*members, *[(n, Role.COMPUTE_NODE) for n in node_accounts]]:
        if reg.member(account.address) is None:
            reg.admit(operator, account.address, role, b"\x01" * 32, CID)
    reg.register_cluster(operator, [n.address for n in node_accounts], CID, spu_runtime.config_hash(), 0)
    deployment_file = deployment.save(workdir / "deployment.json")
    args = [*FAST_FAIL, "--rpc-url", chain.rpc_url, "--deployment", str(deployment_file)]
    return start_cluster(
        workdir / "cluster",
        accounts=node_accounts,
        extra_args=[*args, "--watch"] if watch else args,
        per_node_args=per_node_args,
        operator=operator,
        chain_id=deployment.chain_id,
    )


@dataclass
class ChainJob:
    job_id: int
    deadline: int
    prepared: PreparedJob
    program_hash: bytes


def authorized_job(
    cluster: Cluster, workdir: Path, w3, ledger, providers, algo, buyer, seconds_left: int
) -> ChainJob:
    """A joint-stats job requested by `buyer`, approved by every owner, due `seconds_left` from now."""
    job = prepare_joint_stats_job(cluster, workdir, rows=(50, 30))
    market = ledger.market
    ids = [
        market.list_dataset(owner, CID, listing.manifest_hash, 0).event("DatasetListed").args["id"]
        for owner, listing in zip(providers, job.listings, strict=True)
    ]
    joint = ALGORITHMS["joint_stats"]
    alg_id = (
        market.list_algorithm(algo, joint.name, joint.version, joint.code_hash, CID, 0)
        .event("AlgorithmListed")
        .args["id"]
    )
    inputs = tuple(dataclasses.replace(i, listing_id=d) for i, d in zip(job.spec.inputs, ids, strict=True))
    # listings without a policy of their own require aggregates over at least 10 rows
    params = {**job.spec.params, "min_cohort": 10}
    spec = dataclasses.replace(job.spec, inputs=inputs, receiver_address=buyer.address, params=params)
    program_hash = program_hash_for(spec, job.manifests)
    open_blob_source(str(cluster.blob_dir)).put(spec.to_bytes())
    # the job's result key must be the receiver's registered key
    ledger.registry.rotate_key(buyer, bytes.fromhex(spec.receiver_key))
    deadline = int(w3.eth.get_block("latest")["timestamp"]) + seconds_left
    value = ledger.jobs.escrow_for(ids, alg_id, buyer.address, market)
    job_id = (
        ledger.jobs.request(
            buyer, ids, alg_id, spec.digest(), program_hash, bytes.fromhex(spec.receiver_key), deadline, value
        )
        .event("JobRequested")
        .args["jobId"]
    )
    for owner in (*providers, algo):
        ledger.jobs.approve(owner, job_id)
    assert ledger.jobs.job(job_id).status is JobStatus.AUTHORIZED
    return ChainJob(job_id, deadline, dataclasses.replace(job, spec=spec), program_hash)


def blob_files(cluster: Cluster) -> set[str]:
    return {p.name for p in cluster.blob_dir.rglob("*") if p.is_file()}


def test_job_too_close_to_its_deadline_is_refused_before_it_starts(
    chain, w3, ledger, deployment, dev_accounts, operator, chain_snapshot, tmp_path
):
    nodes, (p1, p2, algo, buyer) = dev_accounts[13:16], dev_accounts[16:20]
    members = [(p1, Role.PROVIDER), (p2, Role.PROVIDER), (algo, Role.ALGORITHM_PROVIDER), (buyer, Role.BUYER)]
    cluster = start_chain_cluster(tmp_path, chain, ledger, deployment, operator, nodes, False, members)
    try:
        # 30 s left, the nodes' margin is 60 s: starting would risk an attestation after the deadline
        job = authorized_job(cluster, tmp_path / "job", w3, ledger, (p1, p2), algo, buyer, seconds_left=30)
        for resp in cluster.trigger(job.job_id):
            assert resp.status_code == 409, resp.text
            problem = resp.json()
            assert problem["rule"] == "deadline_margin"
            assert "deadline_margin" in problem["detail"] and "margin of 60s" in problem["detail"]
        assert [cluster.status(i, job.job_id)["status"] for i in range(3)] == ["unseen"] * 3
        assert not any(
            (tmp_path / "cluster" / f"node{i}" / "jobs" / f"{job.job_id}.json").exists() for i in range(3)
        )
    finally:
        cluster.stop()


def test_deadline_passing_mid_run_gives_a_refund_and_no_result(
    chain, w3, ledger, deployment, dev_accounts, operator, chain_snapshot, tmp_path
):
    """Nodes 0 and 1 attest; node 2 cannot (its account holds no ether), so the job stays AUTHORIZED
    until its deadline passes and the buyer reclaims the escrow. Today's nodes have stored their sealed
    output shares by then, and any two reconstruct the result: the buyer would have both."""
    broke = Account.create()  # registered as node 2, never funded: its attest transaction cannot be paid
    nodes = [dev_accounts[13], dev_accounts[14], broke]
    p1, p2, algo, buyer = dev_accounts[16:20]
    members = [(p1, Role.PROVIDER), (p2, Role.PROVIDER), (algo, Role.ALGORITHM_PROVIDER), (buyer, Role.BUYER)]
    cluster = start_chain_cluster(tmp_path, chain, ledger, deployment, operator, nodes, True, members)
    try:
        job = authorized_job(cluster, tmp_path / "job", w3, ledger, (p1, p2), algo, buyer, seconds_left=3600)
        before = blob_files(cluster)
        # the watchers run it: wait until nodes 0 and 1 have attested and node 2's attempt has ended
        while True:
            statuses = [cluster.status(i, job.job_id)["status"] for i in range(3)]
            ended = [s not in ("unseen", "queued", "running") for s in statuses]
            attested = ledger.jobs.job(job.job_id).attested_mask
            if (attested == 0b011 and ended[2]) or ended[0] or ended[1]:
                break
            time.sleep(0.5)
        assert attested == 0b011 and statuses[2] == "failed", (attested, statuses)

        now = increase_time(w3, job.deadline - int(w3.eth.get_block("latest")["timestamp"]) + 5)
        assert now > job.deadline
        ledger.jobs.reclaim(buyer, job.job_id)
        states = cluster.wait(job.job_id)
        on_chain = ledger.jobs.job(job.job_id)
        assert on_chain.status is JobStatus.REFUNDED
        # a refund and no result: no output share reached the blob store
        assert blob_files(cluster) == before, "the buyer got a refund and the output shares"
        assert [s["status"] for s in states] == ["failed"] * 3
        # nodes 0 and 1 saw the job end (expired, then refunded) before it completed
        assert all("output withheld" in s["error"] for s in states[:2]), [s["error"] for s in states]

        # and no node names one
        attested = ledger.jobs.attestations(job.job_id)
        assert sorted(a.node_index for a in attested) == [0, 1]
        store = open_blob_source(str(cluster.blob_dir))
        for a in attested:
            cid = cid_from_digest(bytes(a.output_share_hash))
            with pytest.raises(Exception):  # noqa: B017 - any failure to fetch: the blob is not there
                store.get(cid)
            assert all(cid not in str(s) for s in states)
        with pytest.raises(ResultError):
            fetch_result(
                job.job_id, attested, job.prepared.receiver, store, expected_program_hash=job.program_hash
            )
        # and nothing is left in the nodes' work dirs either
        assert [list((tmp_path / "cluster" / f"node{i}" / "held").glob("*")) for i in range(3)] == [[]] * 3
    finally:
        cluster.stop()


class HeldTransactions:
    """A JSON-RPC relay in front of the chain that holds one account's transactions until released, as a
    congested network or a slow node would: the sender gets the hash at once and waits for a receipt."""

    def __init__(self, upstream: str, sender: str) -> None:
        self.upstream, self.sender, self.held, self.release_now = upstream, sender.lower(), [], False
        self.client = httpx.Client(headers={"Content-Type": "application/json"}, timeout=30)
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the node's many reads stay as fast as direct ones

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                call = json.loads(body)
                if isinstance(call, dict) and call.get("method") == "eth_sendRawTransaction":
                    raw = call["params"][0]
                    if not relay.release_now and Account.recover_transaction(raw).lower() == relay.sender:
                        relay.held.append(raw)
                        out = {
                            "jsonrpc": "2.0",
                            "id": call["id"],
                            "result": Web3.keccak(hexstr=raw).to_0x_hex(),
                        }
                        return self._answer(json.dumps(out).encode())
                self._answer(relay.client.post(relay.upstream, content=body).content)

            def _answer(self, data: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def release(self) -> None:
        self.release_now = True
        for raw in self.held:
            httpx.post(
                self.upstream,
                json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]},
            ).raise_for_status()

    def close(self) -> None:
        self.server.shutdown()
        self.client.close()


def test_a_node_restarted_while_awaiting_completion_publishes_its_output_when_the_job_completes(
    chain, w3, ledger, deployment, dev_accounts, operator, chain_snapshot, tmp_path
):
    """Nodes 0 and 1 attest and wait for COMPLETED; node 2's attestation is held on its way to the chain.
    Node 0 is killed and restarted; then node 2's attestation lands and the job completes. The restarted
    node must publish the output share it attested (before: it marked the attempt failed and kept the
    share forever, so the buyer had two of three shares and every later one-node fault lost the result)."""
    nodes = dev_accounts[13:16]
    p1, p2, algo, buyer = dev_accounts[16:20]
    members = [(p1, Role.PROVIDER), (p2, Role.PROVIDER), (algo, Role.ALGORITHM_PROVIDER), (buyer, Role.BUYER)]
    relay = HeldTransactions(chain.rpc_url, nodes[2].address)
    cluster = start_chain_cluster(
        tmp_path,
        chain,
        ledger,
        deployment,
        operator,
        nodes,
        True,
        members,
        per_node_args=[[], [], ["--rpc-url", relay.url]],
    )
    try:
        job = authorized_job(cluster, tmp_path / "job", w3, ledger, (p1, p2), algo, buyer, seconds_left=3600)
        while ledger.jobs.job(job.job_id).attested_mask != 0b011 or not relay.held:
            states = [cluster.status(i, job.job_id) for i in range(3)]
            assert all(s["status"] != "failed" for s in states), [s["error"] for s in states]
            time.sleep(0.5)
        cluster.nodes[0].kill()
        cluster.nodes[0].start()
        assert cluster.status(0, job.job_id)["status"] == "running"  # resumed, not failed
        relay.release()
        states = cluster.wait(job.job_id)
        assert ledger.jobs.job(job.job_id).status is JobStatus.COMPLETED
        assert [s["status"] for s in states] == ["succeeded"] * 3, [s["error"] for s in states]
        assert "resumed" in [e["stage"] for e in states[0]["timeline"]]
        store = open_blob_source(str(cluster.blob_dir))
        attested = ledger.jobs.attestations(job.job_id)
        for a in attested:  # every attested share is published, node 0's too
            store.get(cid_from_digest(bytes(a.output_share_hash)))
        fetch_result(
            job.job_id, attested, job.prepared.receiver, store, expected_program_hash=job.program_hash
        )
        assert [list((tmp_path / "cluster" / f"node{i}" / "held").glob("*")) for i in range(3)] == [[]] * 3
    finally:
        relay.close()
        cluster.stop()
