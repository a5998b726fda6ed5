"""Settlement through the SDK on a real API and chain: earnings, withdraw, reclaim, key rotation."""

from __future__ import annotations

import hashlib
import secrets

import pytest

from dx_core.roles import Role
from exchange_api.client import ExchangeClient, ExchangeError
from exchange_api.services.settlement import job_credits
from tests.fixtures.chain import increase_time

pytestmark = [pytest.mark.api, pytest.mark.chain, pytest.mark.database]
NODE_FEE = 7
PROGRAM = hashlib.sha256(b"program: settlement").digest()


@pytest.fixture(scope="module")
def world(api_world, api_server):  # type: ignore[no-untyped-def]
    """A seller, an algorithm provider, two buyers and three nodes of a cluster of their own, signed in."""
    w = api_world
    roles = {"seller": Role.PROVIDER, "algo": Role.ALGORITHM_PROVIDER, "buyer": Role.BUYER,
             "other": Role.BUYER, "node0": Role.COMPUTE_NODE, "node1": Role.COMPUTE_NODE,
             "node2": Role.COMPUTE_NODE}
    people = {name: w.member(role) for name, role in roles.items()}
    w.ledger.registry.register_cluster(w.operator, [people[f"node{i}"].address for i in range(3)],
                                       "bafkreiendpoints", b"\x12" * 32, NODE_FEE)
    clients = {name: ExchangeClient(api_server.url, acct) for name, acct in people.items()}
    for c in clients.values():
        c.login()
    c = clients
    dataset = c["seller"].publish_dataset({"title": "settled", "tags": [], "columns": []},
                                          secrets.token_bytes(16), price_wei=1000)
    algorithm = c["algo"].publish_algorithm({"title": "algo"}, "settle_alg", "1.0",
                                            hashlib.sha256(b"code").digest(), price_wei=300)
    yield {"w": w, "p": people, "c": clients, "dataset": dataset, "algorithm": algorithm}
    for client in clients.values():
        client.close()


def _now(w) -> int:  # type: ignore[no-untyped-def]
    return int(w.ledger.w3.eth.get_block("latest")["timestamp"])


def _request(world, buyer: str = "buyer", deadline_in: int = 3600) -> int:  # type: ignore[no-untyped-def]
    w, c = world["w"], world["c"][buyer]
    key = bytes(w.ledger.registry.member(c.account.address).encryption_key)
    return c.request_job([world["dataset"]], world["algorithm"], hashlib.sha256(b"spec").digest(), PROGRAM,
                         key, _now(w) + deadline_in)


def _complete(world, job_id: int) -> None:  # type: ignore[no-untyped-def]
    c, jobs = world["c"], world["w"].ledger.jobs
    c["seller"].approve_job(job_id)
    c["algo"].approve_job(job_id)
    digest = hashlib.sha256(b"inputs").digest()
    for i in range(3):
        terms = jobs.terms(job_id)
        built = jobs.build("attest", job_id, terms.as_tuple(), digest, PROGRAM,
                           hashlib.sha256(f"share {i}".encode()).digest(), terms.policy_digest,
                           sender=world["p"][f"node{i}"].address)
        c[f"node{i}"].relay(c[f"node{i}"].sign(built))
    assert c["buyer"].job(job_id)["status"] == "completed"


def test_a_completed_job_credits_owners_and_nodes_who_withdraw_it(world) -> None:
    c, p, w = world["c"], world["p"], world["w"]
    job_id = _request(world)
    _complete(world, job_id)

    seller = c["seller"].earnings()
    assert seller["balance_wei"] == "1000"
    assert [(j["job_id"], j["wei"], j["as"]) for j in seller["jobs"]] == [(job_id, "1000", ["owner"])]
    node = c["node1"].earnings()
    assert node["balance_wei"] == str(NODE_FEE) and node["jobs"][0]["as"] == ["node"]
    assert c["buyer"].earnings()["jobs"] == []  # a completed job refunds nothing

    before = w.ledger.w3.eth.get_balance(p["seller"].address)
    tx = c["seller"].withdraw()
    assert [e["args"]["amount"] for e in tx["events"] if e["event"] == "Withdrawal"] == [1000]
    assert c["seller"].earnings()["balance_wei"] == "0"
    # the 1000 wei reached the wallet (less the gas the seller paid for the withdrawal)
    receipt = w.ledger.w3.eth.get_transaction_receipt(tx["tx_hash"])
    gas = receipt.gasUsed * receipt.effectiveGasPrice
    assert w.ledger.w3.eth.get_balance(p["seller"].address) == before + 1000 - gas

    # a second withdrawal has nothing to pay: the chain's own error, before anything is signed
    with pytest.raises(ExchangeError) as err:
        c["seller"].withdraw()
    assert err.value.status == 422 and err.value.contract_error == "NothingToWithdraw"


def test_only_the_buyer_reclaims_and_only_past_the_deadline(world) -> None:
    c, w = world["c"], world["w"]
    job_id = _request(world, deadline_in=600)
    with pytest.raises(ExchangeError) as err:
        c["other"].reclaim_job(job_id)
    assert err.value.status == 403 and "only its buyer" in err.value.problem["detail"]
    with pytest.raises(ExchangeError) as err:
        c["buyer"].reclaim_job(job_id)
    assert err.value.status == 422 and err.value.contract_error == "DeadlineNotReached"
    assert job_id not in [j["job_id"] for j in c["buyer"].earnings()["reclaimable"]]

    increase_time(w.ledger.w3, 700)
    assert job_id in [j["job_id"] for j in c["buyer"].earnings()["reclaimable"]]
    before = int(c["buyer"].earnings()["balance_wei"])
    tx = c["buyer"].reclaim_job(job_id)
    refund = 1000 + 300 + 3 * NODE_FEE
    assert [e["args"]["refund"] for e in tx["events"] if e["event"] == "JobRefunded"] == [refund]
    after = c["buyer"].earnings()
    assert int(after["balance_wei"]) == before + refund
    assert (job_id, str(refund), ["buyer"]) in [(j["job_id"], j["wei"], j["as"]) for j in after["jobs"]]
    assert job_id not in [j["job_id"] for j in after["reclaimable"]]
    with pytest.raises(ExchangeError) as err:  # twice is refused by the chain
        c["buyer"].reclaim_job(job_id)
    assert err.value.contract_error == "InvalidStatus"


def test_a_member_rotates_its_own_key_only(world) -> None:
    c, w = world["c"], world["w"]
    new_key = secrets.token_bytes(32)
    c["other"].rotate_key(new_key)
    assert bytes(w.ledger.registry.member(c["other"].account.address).encryption_key) == new_key
    with pytest.raises(ExchangeError) as err:
        c["other"].rotate_key(b"\0" * 32)
    assert err.value.status == 422
    assert bytes(w.ledger.registry.member(c["other"].account.address).encryption_key) == new_key


def test_credits_follow_the_contract_rule() -> None:
    owners, prices, nodes = ["0xa", "0xb"], [5, 6], ["0x1", "0x2", "0x3"]
    paid = job_credits("completed", "0xbuyer", owners, prices, 2, nodes)
    assert sum(c["wei"] for c in paid) == 5 + 6 + 3 * 2 and {c["account"] for c in paid} == {*owners, *nodes}
    for status in ("declined", "refunded", "refused", "disputed"):
        assert job_credits(status, "0xbuyer", owners, prices, 2, nodes) == [
            {"account": "0xbuyer", "wei": 17, "as": "buyer", "input": None}]
    assert job_credits("authorized", "0xbuyer", owners, prices, 2, nodes) == []
