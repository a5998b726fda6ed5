"""Issue 11 (items 6, 10) on a real chain: a relayed tx or an approveBatch that never mines does not pin a
worker (202 / pending, then the receipt poller or the indexer), and two final approvals at two API
processes on one database relay one batch and both answer with it."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from typing import Any

import httpx
import pytest

from dx_core.roles import Role
from exchange_api.client import ExchangeClient, ExchangeError
from tests.fixtures.api import start_api_server

pytestmark = [pytest.mark.api, pytest.mark.chain, pytest.mark.database]
NODE_FEE = 1_000


def _poll(fetch, done, attempts: int = 240) -> Any:  # type: ignore[no-untyped-def]
    """Poll `fetch()` until `done(value)`; a bounded number of tries, each 0.5 s apart."""
    for _ in range(attempts):
        value = fetch()
        if done(value):
            return value
        time.sleep(0.5)
    raise AssertionError(f"still not done after {attempts} polls: {value}")


def test_a_relayed_tx_that_does_not_mine_answers_202_and_the_poller_finishes_it(
    api_world, api_server, w3
) -> None:
    member = api_world.member(Role.BUYER)
    client = ExchangeClient(api_server.url, member)
    token = client.login()
    jobs = api_world.ledger.jobs
    tx = {
        "to": jobs.address,
        "data": jobs.encode("invalidateNonce", secrets.randbits(64)),
        "value": 0,
        "gas": 100_000,
        "nonce": w3.eth.get_transaction_count(member.address),
        "chainId": api_world.deployment.chain_id,
        **api_world.ledger.sender.fees(),
    }
    raw = client.sign(tx)
    auth = {"Authorization": f"Bearer {token}"}
    w3.provider.make_request("evm_setAutomine", [False])  # the tx sits in the mempool: it never mines
    try:
        resp = httpx.post(f"{api_server.url}/v1/tx/relay", json={"raw_tx": raw}, headers=auth, timeout=300)
        assert resp.status_code == 202, resp.text
        out = resp.json()
        assert out["status"] == "pending" and out["block_number"] is None
        status = httpx.get(f"{api_server.url}/v1/tx/{out['tx_hash']}", headers=auth).json()
        assert status["status"] == "pending"
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
        w3.provider.make_request("evm_mine", [])
    # Nobody relays again: the API's receipt poller records what the chain now says.
    final = _poll(
        lambda: httpx.get(f"{api_server.url}/v1/tx/{out['tx_hash']}", headers=auth).json(),
        lambda s: s["status"] != "pending",
    )
    receipt = w3.eth.get_transaction_receipt(out["tx_hash"])
    assert final["status"] == "mined" and final["block_number"] == receipt["blockNumber"]
    client.close()


def _people(w) -> dict:  # type: ignore[no-untyped-def]
    people = {
        "seller": w.member(Role.PROVIDER),
        "algo": w.member(Role.ALGORITHM_PROVIDER),
        "buyer": w.member(Role.BUYER),
        **{f"node{i}": w.member(Role.COMPUTE_NODE) for i in range(3)},
    }
    nodes = [people[f"node{i}"].address for i in range(3)]
    w.ledger.registry.register_cluster(w.operator, nodes, "bafkreiendpoints", b"\x11" * 32, NODE_FEE)
    return people


def _job_awaiting_algo(w, people, seller, algo, buyer) -> int:  # type: ignore[no-untyped-def]
    """A requested job over one dataset and one algorithm, approved by the seller: the algorithm owner's
    approval is the final one."""
    meta = {"title": "Race data", "description": "d", "tags": ["race"], "columns": []}
    dataset = seller.publish_dataset(meta, b"manifest-" + secrets.token_bytes(8), price_wei=10, max_uses=5)
    algorithm = algo.publish_algorithm(
        {"title": "Race algo", "tags": ["race"]}, "joint_mean", "1.0", hashlib.sha256(b"c").digest(), 5
    )
    job_id = buyer.request_job(
        [dataset],
        algorithm,
        hashlib.sha256(b"spec").digest(),
        hashlib.sha256(b"program").digest(),
        # The key the buyer registered: the contract refuses any other for a result it receives.
        bytes(w.ledger.registry.member(people["buyer"].address).encryption_key),
        int(time.time()) + 3600,
    )
    # With two indexers on one database the job may reach the tables a poll after the relay returns.
    _poll(lambda: [j["id"] for j in seller.my_requests()], lambda ids: job_id in ids)
    assert seller.approve_job(job_id)["waiting_for"] == [people["algo"].address]
    return job_id


def test_a_final_approval_whose_batch_does_not_mine_answers_pending(api_world, api_server, w3) -> None:
    people = _people(api_world)
    clients = {who: ExchangeClient(api_server.url, people[who]) for who in ("seller", "algo", "buyer")}
    for c in clients.values():
        c.login()
    job_id = _job_awaiting_algo(api_world, people, clients["seller"], clients["algo"], clients["buyer"])
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        out = clients["algo"].approve_job(job_id)  # the operator's approveBatch sits in the mempool
        relayed = out["relayed"]
        assert relayed["kind"] == "ComputeJobs.approveBatch" and relayed["status"] == "pending", relayed
        assert out["job"]["status"] == "requested" and out["waiting_for"] == []
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
        w3.provider.make_request("evm_mine", [])
    assert w3.eth.get_transaction_receipt(relayed["tx_hash"])["status"] == 1
    job = _poll(lambda: clients["buyer"].job(job_id), lambda j: j["status"] == "authorized")
    assert job["pending_owners"] == []
    for c in clients.values():
        c.close()


def test_two_final_approvals_at_two_api_processes_relay_one_batch(
    tmp_path, database_url, chain, api_world, w3
) -> None:
    w = api_world
    people = _people(w)
    # Two API processes (two uvicorn workers would be the same): one database, one data dir, one relayer.
    shared = tmp_path / "shared"
    shared.mkdir()
    servers = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        servers.append(
            start_api_server(
                tmp_path / name,
                database_url,
                rpc_url=chain.rpc_url,
                deployment_file=w.deployment_file,
                relayer_key=w.relayer.key.to_0x_hex(),
                extra_env={"DX_DATA_DIR": str(shared)},
            )
        )
    a, b = servers
    clients: list[ExchangeClient] = []
    try:

        def connect(server, who: str) -> ExchangeClient:  # type: ignore[no-untyped-def]
            c = ExchangeClient(server.url, people[who])
            c.login()
            clients.append(c)
            return c

        seller, algo, buyer = connect(a, "seller"), connect(a, "algo"), connect(a, "buyer")
        algo_at_b = connect(b, "algo")
        job_id = _job_awaiting_algo(w, people, seller, algo, buyer)
        # The last owner's approval reaches both processes at once (a client retry to another worker).
        signed = [algo._signed_decision(job_id, "approve", n, None) for n in (101, 102)]
        relayer_nonce = w3.eth.get_transaction_count(w.relayer.address)
        start = threading.Barrier(2)
        answers: dict[str, Any] = {}

        def submit(name: str, c: ExchangeClient, body: dict) -> None:
            start.wait()
            try:
                answers[name] = c.submit_approval(job_id, body)
            except ExchangeError as exc:
                answers[name] = exc

        threads = [
            threading.Thread(target=submit, args=("a", algo, signed[0])),
            threading.Thread(target=submit, args=("b", algo_at_b, signed[1])),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name, answer in answers.items():
            assert not isinstance(answer, ExchangeError), f"the approval at {name} failed: {answer}"
        relayed = {name: answer["relayed"] for name, answer in answers.items()}
        assert all(r is not None and r["kind"] == "ComputeJobs.approveBatch" for r in relayed.values()), (
            relayed
        )
        assert relayed["a"]["tx_hash"] == relayed["b"]["tx_hash"], "each answered with its own batch"
        assert w3.eth.get_transaction_count(w.relayer.address) == relayer_nonce + 1, "two batches were sent"
        assert w.ledger.jobs.job(job_id).status.name == "AUTHORIZED"
        job = _poll(lambda: buyer.job(job_id), lambda j: j["status"] == "authorized")
        assert job["pending_owners"] == []
    finally:
        for c in clients:
            c.close()
        for server in servers:
            server.stop()
