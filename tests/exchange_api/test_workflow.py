"""The compute-contract workflow over real HTTP: a uvicorn API process, a real Anvil, the Python SDK."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest
from eth_account import Account
from eth_utils import keccak

from dx_core.cid import cid_from_digest
from dx_core.roles import Role
from exchange_api.client import ExchangeClient, ExchangeError
from tests.fixtures.api import sign_text, siwe_message

pytestmark = [pytest.mark.api, pytest.mark.chain, pytest.mark.database]
NODE_FEE = 1_000
PROGRAM = hashlib.sha256(b"program: joint mean").digest()


@pytest.fixture(scope="module")
def world(api_world, api_server):  # type: ignore[no-untyped-def]
    """Members of every role on the suite's deployment, a registered cluster, and one SDK client each."""
    w = api_world
    people = {
        "seller1": w.member(Role.PROVIDER),
        "seller2": w.member(Role.PROVIDER),
        "algo": w.member(Role.ALGORITHM_PROVIDER),
        "buyer": w.member(Role.BUYER),
        "buyer2": w.member(Role.BUYER),
        "regulator": w.member(Role.REGULATOR),
        "stranger": w.member(Role.BUYER),
        "node0": w.member(Role.COMPUTE_NODE),
        "node1": w.member(Role.COMPUTE_NODE),
        "node2": w.member(Role.COMPUTE_NODE),
    }
    nodes = [people[f"node{i}"].address for i in range(3)]
    w.ledger.registry.register_cluster(w.operator, nodes, "bafkreiendpoints", b"\x11" * 32, NODE_FEE)
    clients = {name: ExchangeClient(api_server.url, acct) for name, acct in people.items()}
    for client in clients.values():
        client.login()
    yield {"w": w, "people": people, "c": clients}
    for client in clients.values():
        client.close()


def _meta(title: str, tags: list[str], columns: list[str]) -> dict:
    return {
        "title": title,
        "description": f"{title} for the workflow test",
        "tags": tags,
        "columns": [{"name": c, "dtype": "f8"} for c in columns],
    }


@pytest.fixture(scope="module")
def listings(world) -> dict:  # type: ignore[no-untyped-def]
    c = world["c"]
    d1 = c["seller1"].publish_dataset(
        _meta("Bank balances", ["finance"], ["id", "balance"]), b"manifest-1", price_wei=100, max_uses=1
    )
    d2 = c["seller2"].publish_dataset(
        _meta("Telecom minutes", ["telecom"], ["id", "minutes"]), b"manifest-2", price_wei=200, max_uses=10
    )
    a1 = c["algo"].publish_algorithm(
        {"title": "Joint mean", "tags": ["stats"]},
        "joint_mean",
        "1.0",
        hashlib.sha256(b"code").digest(),
        price_wei=50,
    )
    return {"d1": d1, "d2": d2, "a1": a1}


def _request(world, datasets: list[int], algorithm: int) -> int:  # type: ignore[no-untyped-def]
    client = world["c"]["buyer"]
    # the result key must be the buyer's registered one (ComputeJobs.ResultKeyMismatch otherwise)
    key = world["w"].ledger.registry.member(client.account.address).encryption_key
    return client.request_job(
        datasets,
        algorithm,
        hashlib.sha256(b"spec").digest(),
        PROGRAM,
        bytes(key),
        int(time.time()) + 3600,
    )


def test_health_sees_chain_db_blobs_and_indexer(world, api_server) -> None:
    health = world["c"]["buyer"].health()
    assert health["checks"]["chain"]["ok"] and health["checks"]["database"]["ok"], health
    assert health["indexer_lag"] is not None


def test_published_listings_are_indexed_with_their_metadata(world, listings) -> None:
    c, people = world["c"]["buyer"], world["people"]
    # Other modules list "finance" data on the same chain and index: judge this world's listings only.
    ours = {listings["d1"], listings["d2"]}

    def ids(found: dict) -> list[int]:
        return [i["id"] for i in found["items"] if i["id"] in ours]

    found = c.search_datasets(tag="finance", page_size=100)
    assert ids(found) == [listings["d1"]]
    item = next(i for i in found["items"] if i["id"] == listings["d1"])
    assert item["title"] == "Bank balances" and item["owner"] == people["seller1"].address
    assert item["manifest_hash"] == "0x" + hashlib.sha256(b"manifest-1").hexdigest()
    assert ids(c.search_datasets(column="minutes", page_size=100)) == [listings["d2"]]
    algos = c.search_algorithms(q="mean", owner=people["algo"].address)["items"]
    assert [a["id"] for a in algos] == [listings["a1"]] and algos[0]["price_wei"] == "50"


def test_full_job_approval_attestation_and_results(world, listings) -> None:
    c, p, w = world["c"], world["people"], world["w"]
    job_id = _request(world, [listings["d1"], listings["d2"]], listings["a1"])
    job = c["buyer"].job(job_id)
    assert job["status"] == "requested"
    assert job["pending_owners"] == [p["seller1"].address, p["seller2"].address, p["algo"].address]
    assert int(job["escrow_wei"]) == 100 + 200 + 50 + 3 * NODE_FEE

    # Others' jobs are not visible; owners of inputs do see them.
    with pytest.raises(ExchangeError) as err:
        c["buyer2"].job(job_id)
    assert err.value.status == 403
    assert [j["id"] for j in c["seller1"].my_requests()] == [job_id]

    first = c["seller1"].approve_job(job_id)
    assert first["relayed"] is None
    assert first["waiting_for"] == [p["seller2"].address, p["algo"].address]
    c["seller2"].approve_job(job_id)
    last = c["algo"].approve_job(job_id)
    assert last["relayed"]["kind"] == "ComputeJobs.approveBatch"
    assert {e["event"] for e in last["relayed"]["events"]} >= {"JobApproved", "JobAuthorized"}
    assert last["job"]["status"] == "authorized" and last["job"]["pending_owners"] == []
    assert {a["status"] for a in last["job"]["approvals"]} == {"onchain"}

    # Nodes attest: two relayed by the API, one sent by the node itself and then tracked by hash.
    digest = hashlib.sha256(b"inputs").digest()
    jobs = w.ledger.jobs
    shares = {}
    for i in range(3):
        node = p[f"node{i}"]
        shares[i] = hashlib.sha256(f"share {i}".encode()).digest()
        if i == 1:
            sent = jobs.attest(node, job_id, digest, PROGRAM, shares[i])
            out = c[f"node{i}"].track(sent.tx_hash)
        else:
            built = jobs.build(
                "attest",
                job_id,
                jobs.terms(job_id).as_tuple(),
                digest,
                PROGRAM,
                shares[i],
                jobs.terms(job_id).policy_digest,
                sender=node.address,
            )
            out = c[f"node{i}"].relay(c[f"node{i}"].sign(built))
        assert out["status"] == "mined" and out["kind"] == "ComputeJobs.attest"
    receipt = jobs.build("attestDestruction", job_id, b"\x22" * 32, sender=p["node0"].address)
    c["node0"].relay(c["node0"].sign(receipt))

    done = c["buyer"].job(job_id)
    assert done["status"] == "completed"
    kinds = sorted((a["kind"], a["node_index"]) for a in done["attestations"])
    assert kinds == [("destruction", 0), ("result", 0), ("result", 1), ("result", 2)], done["attestations"]
    results = c["buyer"].job_results(job_id)
    assert [r["output_share_hash"] for r in results] == ["0x" + shares[i].hex() for i in range(3)]
    assert [r["cid"] for r in results] == [cid_from_digest(shares[i]) for i in range(3)]
    with pytest.raises(ExchangeError) as err:
        c["seller1"].job_results(job_id)
    assert err.value.status == 403

    usage = {u["id"]: u for u in c["seller1"].my_usage()}
    assert usage[listings["d1"]]["uses"] == 1 and usage[listings["d1"]]["earned_wei"] == "100"

    # dataset 1 allowed one use: the next request is refused with the contract's own error.
    with pytest.raises(ExchangeError) as err:
        _request(world, [listings["d1"]], listings["a1"])
    assert err.value.status == 422 and err.value.contract_error == "UsageLimitReached"


def test_bad_approvals_are_refused_before_storing(world, listings) -> None:
    c, p = world["c"], world["people"]
    job_id = _request(world, [listings["d2"]], listings["a1"])
    good = c["seller2"]._signed_decision(job_id, "approve", 7, None)
    # Signed by someone else than the owner it claims.
    forged = c["algo"]._signed_decision(job_id, "approve", 8, None) | {"owner": p["seller2"].address}
    with pytest.raises(ExchangeError) as err:
        c["seller2"].submit_approval(job_id, forged)
    assert err.value.status == 422 and f"not to the owner {p['seller2'].address}" in str(err.value)
    # Not an owner of this job's inputs at all.
    with pytest.raises(ExchangeError) as err:
        c["buyer"].approve_job(job_id)
    assert err.value.status == 403 and "is not an owner" in str(err.value)
    # Expired.
    with pytest.raises(ExchangeError) as err:
        c["seller2"].approve_job(job_id, deadline=int(time.time()) - 10)
    assert err.value.status == 422 and "expired" in str(err.value)
    # A signature for another job does not verify for this one.
    wrong_job = c["seller2"]._signed_decision(job_id, "approve", 9, None)
    with pytest.raises(ExchangeError) as err:
        c["seller2"].submit_approval(job_id + 1000, wrong_job)
    assert err.value.status == 404
    # Accepted once; the same nonce again is a replay.
    assert c["seller2"].submit_approval(job_id, good)["waiting_for"] == [p["algo"].address]
    with pytest.raises(ExchangeError) as err:
        c["seller2"].submit_approval(job_id, good)
    assert err.value.status == 409 and "already used" in str(err.value)
    approvals = c["buyer"].job(job_id)["approvals"]
    assert [(a["owner"], a["status"]) for a in approvals] == [(p["seller2"].address, "verified")]


def test_decline_by_signature_ends_the_job(world, listings) -> None:
    c = world["c"]
    job_id = _request(world, [listings["d2"]], listings["a1"])
    out = c["algo"].decline_job(job_id)
    assert out["relayed"]["kind"] == "ComputeJobs.declineBySig"
    assert out["job"]["status"] == "declined"
    with pytest.raises(ExchangeError) as err:
        c["seller2"].approve_job(job_id)
    assert err.value.status == 409 and "declined" in str(err.value)


def test_relay_checks_the_signer_and_the_target(world, listings) -> None:
    c, p, w = world["c"], world["people"], world["w"]
    built = c["seller2"].request("POST", f"/v1/listings/datasets/{listings['d2']}/build-delist")
    signed_by_seller2 = c["seller2"].sign(built["tx"])
    with pytest.raises(ExchangeError) as err:
        c["stranger"].relay(signed_by_seller2)  # someone else's tx, relayed under the stranger's session
    assert err.value.status == 403 and p["seller2"].address in str(err.value)
    elsewhere = dict(built["tx"], to=p["stranger"].address)
    with pytest.raises(ExchangeError) as err:
        c["seller2"].relay(c["seller2"].sign(elsewhere))
    assert err.value.status == 400 and "not one of the ledger's contracts" in str(err.value)
    with pytest.raises(ExchangeError) as err:
        c["seller2"].relay("0xdeadbeef")
    assert err.value.status == 400
    # A member that does not own the listing cannot even get the tx built.
    with pytest.raises(ExchangeError) as err:
        c["seller1"].request("POST", f"/v1/listings/datasets/{listings['d2']}/build-delist")
    assert err.value.status == 403
    assert w.ledger.market.dataset(listings["d2"]).status.name == "ACTIVE"


def test_reverted_relay_is_recorded_as_reverted_not_done(world, listings) -> None:
    c, w, p = world["c"], world["w"], world["people"]
    jobs = w.ledger.jobs
    # A buyer's withdraw with nothing to withdraw: built without estimation so that it reaches the chain.
    tx = {
        "to": jobs.address,
        "data": jobs.encode("withdraw"),
        "value": 0,
        "gas": 100_000,
        "nonce": w.ledger.w3.eth.get_transaction_count(p["buyer2"].address),
        "chainId": w.deployment.chain_id,
        **w.ledger.sender.fees(),
    }
    raw = c["buyer2"].sign(tx)
    with pytest.raises(ExchangeError) as err:
        c["buyer2"].relay(raw)
    assert err.value.status == 422 and err.value.contract_error == "NothingToWithdraw"
    tx_hash = "0x" + keccak(bytes.fromhex(raw[2:])).hex()
    assert c["buyer2"].tx_status(tx_hash)["status"] == "reverted"


def test_audit_trail_is_for_regulators(world, listings) -> None:
    c = world["c"]
    with pytest.raises(ExchangeError) as err:
        c["buyer"].request("GET", "/v1/audit/entries")
    assert err.value.status == 403
    time.sleep(0.5)  # the request notary appends in the background, every 0.2 s
    entries = c["regulator"].request(
        "GET", "/v1/audit/entries", params={"kind": "api.request", "limit": 1000}
    )
    items = entries["items"]
    routes = {e["payload"]["route"] for e in items}
    assert "/v1/listings/datasets/build" in routes and "/v1/tx/relay" in routes
    chain_kinds = c["regulator"].request("GET", "/v1/audit/entries", params={"kind": "listing.created"})
    chain_items = chain_kinds["items"]
    assert len(chain_items) >= 3


def test_sign_in_over_http_refuses_replays_and_foreign_signatures(world, api_server) -> None:
    member = world["people"]["buyer"]
    with httpx.Client(base_url=api_server.url, timeout=30) as http:
        n = http.get("/v1/auth/nonce", headers={"X-Request-ID": "http-auth-1"})
        assert n.headers["x-request-id"] == "http-auth-1"
        n = n.json()
        text = siwe_message(member, n["domain"], n["nonce"], n["chain_id"])
        forged = http.post(
            "/v1/auth/login", json={"message": text, "signature": sign_text(Account.create(), text)}
        )
        assert forged.status_code == 401 and forged.headers["content-type"] == "application/problem+json"
        ok = http.post("/v1/auth/login", json={"message": text, "signature": sign_text(member, text)})
        # The forged attempt did not burn the nonce: only a verified signature consumes it.
        assert ok.status_code == 200, ok.text
        assert ok.json()["roles"] == ["buyer"]
        replay = http.post("/v1/auth/login", json={"message": text, "signature": sign_text(member, text)})
        assert replay.status_code == 401 and "already used" in replay.json()["detail"]
        metrics = http.get("/metrics").text
        assert 'route="/v1/auth/login",status="401"' in metrics.replace('method="POST",', "")


def test_update_and_delist_reach_the_catalog(world, listings) -> None:
    c = world["c"]
    d3 = c["seller1"].publish_dataset(
        _meta("Branch visits", ["retail"], ["id", "visits"]), b"manifest-3", price_wei=70
    )
    c["seller1"].update_dataset(
        d3,
        _meta("Branch footfall", ["retail", "geo"], ["id", "visits"]),
        b"manifest-3b",
        price_wei=90,
        max_uses=5,
    )
    item = c["buyer"].dataset(d3)
    assert (item["title"], item["price_wei"], item["max_uses"]) == ("Branch footfall", "90", 5)
    assert item["manifest_hash"] == "0x" + hashlib.sha256(b"manifest-3b").hexdigest()
    assert [i["id"] for i in c["buyer"].search_datasets(tag="geo")["items"]] == [d3]
    # Only the owner may change a listing.
    with pytest.raises(ExchangeError) as err:
        c["seller2"].delist_dataset(d3)
    assert err.value.status == 403
    c["seller1"].delist_dataset(d3)
    assert c["buyer"].dataset(d3)["status"] == "delisted"
    assert d3 not in [i["id"] for i in c["buyer"].search_datasets(tag="geo")["items"]]
    with pytest.raises(ExchangeError) as err:
        _request(world, [d3], listings["a1"])
    assert err.value.status == 422 and err.value.contract_error == "DatasetNotActive"
