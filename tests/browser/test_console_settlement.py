"""Browser: settlement and listing changes signed in the wallet; a stranger forcing each is refused in words.

A seller's and a node's earnings read from the chain and withdrawn; a buyer's past-deadline job reclaimed; a
listing's price changed by its owner. The contract, not the page, refuses the stranger; the page says why.
"""

from __future__ import annotations

import hashlib
import json
import os

import httpx
import pytest
from eth_account import Account

from contracts.types import JobStatus
from dx_core.blobstore import LocalBlobStore
from dx_core.roles import Role
from tests.browser.conftest import check_page, wait_for
from tests.browser.test_console_workflow import h32, token_for, wait_job_indexed

pytestmark = [pytest.mark.browser, pytest.mark.chain, pytest.mark.api]

META = {"title": "Settlement test data", "description": "Rows for the settlement tests.", "tags": ["test"],
        "columns": [{"name": "x", "dtype": "int64"}]}
ALGO_META = {"title": "Settlement test algorithm", "description": "Joint statistics."}


def member(console_stack, role: Role):  # type: ignore[no-untyped-def]
    """A fresh funded account admitted with `role`: no other test's credits or jobs share its balance."""
    account = Account.create()
    console_stack.fund(account.address)
    console_stack.ledger.registry.admit(console_stack.operator, account.address, role, os.urandom(32), "")
    return account


def trio(console_stack):  # type: ignore[no-untyped-def]
    """A fresh seller, algorithm vendor and buyer."""
    return (member(console_stack, r) for r in (Role.PROVIDER, Role.ALGORITHM_PROVIDER, Role.BUYER))


def list_pair(console_stack, seller, vendor, price: int = 10**15, algo_price: int = 2 * 10**14):  # type: ignore[no-untyped-def]
    """A dataset and an algorithm listed on-chain, metadata in the API's blob store; (dataset, algorithm)."""
    market = console_stack.ledger.market
    blobs = LocalBlobStore(console_stack.server.settings.resolved_blob_dir)
    ds = market.list_dataset(seller, blobs.put(json.dumps(META).encode()), h32("manifest"), price, max_uses=5)
    algo_cid = blobs.put(json.dumps(ALGO_META).encode())
    algo = market.list_algorithm(vendor, "joint_stats", "1.0", h32("code"), algo_cid, algo_price)
    return ds.event("DatasetListed").args["id"], algo.event("AlgorithmListed").args["id"]


def request_job(console_stack, buyer, ds_id: int, algo_id: int, lifetime: int = 3600) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The buyer's job on-chain, indexed by the API; (job id, escrow)."""
    ledger, w3 = console_stack.ledger, console_stack.w3
    value = ledger.jobs.escrow_for([ds_id], algo_id, buyer.address, ledger.market)
    deadline = w3.eth.get_block("latest")["timestamp"] + lifetime
    key = ledger.registry.member(buyer.address).encryption_key
    params = h32(f"params {os.urandom(8).hex()}")
    req = ledger.jobs.request(buyer, [ds_id], algo_id, params, h32("program"), key, deadline, value)
    job_id = req.event("JobRequested").args["jobId"]
    wait_job_indexed(console_stack.url, buyer, job_id)
    return job_id, value


def sign_in(page, url: str, path: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/console/{path}")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("#signed-in-as").wait_for()


def confirmed_tx(page) -> str:  # type: ignore[no-untyped-def]
    """The hash of the transaction the page reports confirmed (its full value is in the code's title)."""
    ok = page.locator(".tx-ok")
    ok.wait_for()
    return ok.locator("code").get_attribute("title")


@pytest.fixture(scope="module")
def completed(console_stack, cast):  # type: ignore[no-untyped-def]
    """A job that completed on-chain: both owners approved, the three nodes attested the same run."""
    ledger = console_stack.ledger
    seller, vendor, buyer = trio(console_stack)
    ds_id, algo_id = list_pair(console_stack, seller, vendor)
    job_id, _ = request_job(console_stack, buyer, ds_id, algo_id)
    ledger.jobs.approve(seller, job_id)
    ledger.jobs.approve(vendor, job_id)
    for node in cast.nodes:
        share = os.urandom(64)
        ledger.jobs.attest(node, job_id, h32("inputs digest"), h32("program"), hashlib.sha256(share).digest())
    assert ledger.jobs.job(job_id).status == JobStatus.COMPLETED
    terms = ledger.jobs.terms(job_id)
    auth = {"Authorization": f"Bearer {token_for(console_stack.url, seller)}"}
    wait_for(f"the API to see job {job_id} completed", lambda: httpx.get(
        f"{console_stack.url}/v1/jobs/{job_id}", headers=auth).json().get("status") == "completed")
    return {"id": job_id, "seller": seller, "vendor": vendor, "buyer": buyer, "price": int(terms.prices[0]),
            "node_fee": int(terms.node_fee), "dataset": ds_id}


def test_seller_sees_the_credit_and_withdraws_it_to_its_address(page_for, console_stack, completed) -> None:  # type: ignore[no-untyped-def]
    ledger, w3, seller = console_stack.ledger, console_stack.w3, completed["seller"]
    credit = completed["price"]
    assert ledger.jobs.balance_of(seller.address) == credit
    page, wallet = page_for(seller)
    sign_in(page, console_stack.url, "earnings")
    page.locator(f'#balance[data-wei="{credit}"]').wait_for()
    row = page.locator(f'#credits tr[data-job="{completed["id"]}"]')
    row.wait_for()
    assert row.locator("[data-wei]").get_attribute("data-wei") == str(credit)
    assert "owner" in row.inner_text()
    check_page(page, "earnings-seller")

    before = w3.eth.get_balance(seller.address)
    page.get_by_role("button", name="Withdraw").click()
    tx_hash = confirmed_tx(page)
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    gas = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert receipt["from"] == seller.address and receipt["to"] == ledger.jobs.address
    assert w3.eth.get_balance(seller.address) - before == credit - gas
    assert ledger.jobs.balance_of(seller.address) == 0
    page.locator('#balance[data-wei="0"]').wait_for()
    assert "eth_sendTransaction" in wallet.methods()
    # The key stays in the wallet: nothing the page sent carries it.
    assert not any(seller.key.hex()[2:] in s for s in page.sent)
    check_page(page, "earnings-withdrawn")


def test_a_node_sees_its_fee_for_the_job(page_for, console_stack, cast, completed) -> None:  # type: ignore[no-untyped-def]
    node = cast.nodes[0]
    page, _ = page_for(node)
    sign_in(page, console_stack.url, "earnings")
    row = page.locator(f'#credits tr[data-job="{completed["id"]}"]')
    row.wait_for()
    assert row.locator("[data-wei]").get_attribute("data-wei") == str(completed["node_fee"])
    assert "node" in row.inner_text()
    # The balance is the chain's, whatever other jobs credited this node.
    page.locator(f'#balance[data-wei="{console_stack.ledger.jobs.balance_of(node.address)}"]').wait_for()


def test_nothing_to_withdraw_offers_no_button_on_a_narrow_screen(page_for, console_stack) -> None:  # type: ignore[no-untyped-def]
    page, _ = page_for(member(console_stack, Role.PROVIDER), width=360, height=740)
    sign_in(page, console_stack.url, "earnings")
    page.locator('#balance[data-wei="0"]').wait_for()
    assert page.get_by_role("button", name="Withdraw").count() == 0
    page.get_by_text("Nothing to withdraw").wait_for()
    page.get_by_text("No job has credited you yet.").wait_for()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"the earnings page overflows a 360 px screen ({width} px wide)"
    check_page(page, "earnings-empty")


def test_buyer_reclaims_a_past_deadline_job_and_a_stranger_cannot(page_for, console_stack) -> None:  # type: ignore[no-untyped-def]
    ledger, w3 = console_stack.ledger, console_stack.w3
    seller, vendor, buyer = trio(console_stack)
    ds_id, algo_id = list_pair(console_stack, seller, vendor)
    job_id, escrow = request_job(console_stack, buyer, ds_id, algo_id, lifetime=30)
    # Past the deadline by the chain's clock (the contract's, not ours): no node ever ran it.
    w3.provider.make_request("evm_increaseTime", [120])
    w3.provider.make_request("evm_mine", [])

    stranger, _ = page_for(seller)
    sign_in(stranger, console_stack.url, "earnings")
    stranger.get_by_text("None of your jobs is past its deadline unfinished.").wait_for()
    assert stranger.locator(f"#reclaim-{job_id}").count() == 0
    # The attacker's own page offers the button anyway: the contract refuses, and the page says so in words.
    stranger.evaluate("""async (jobId) => {
      const m = await import('/console/static/pages/earnings.js');
      document.querySelector('main').append(m.reclaimControl(jobId));
    }""", job_id)
    stranger.get_by_role("button", name=f"Reclaim escrow of job {job_id}").click()
    alert = stranger.locator(".tx-outcome [role=alert]")
    alert.wait_for()
    assert "NotBuyer" in alert.inner_text() and f"only the buyer of job {job_id}" in alert.inner_text()
    assert ledger.jobs.job(job_id).status == JobStatus.REQUESTED

    page, _ = page_for(buyer)
    sign_in(page, console_stack.url, "jobs")
    # The buyer's job list points at the refund, by the chain's clock.
    page.get_by_role("link", name=f"Past its deadline: reclaim the escrow of job {job_id}").click()
    card = page.locator(f'#refundable [data-job="{job_id}"]')
    card.wait_for()
    assert escrow == int(ledger.jobs.escrow_for([ds_id], algo_id, buyer.address, ledger.market))
    check_page(page, "earnings-refundable")
    before = ledger.jobs.balance_of(buyer.address)
    card.get_by_role("button", name=f"Reclaim escrow of job {job_id}").click()
    tx_hash = confirmed_tx(page)
    assert w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
    assert ledger.jobs.job(job_id).status == JobStatus.REFUNDED
    assert ledger.jobs.balance_of(buyer.address) - before == escrow
    page.locator(f'#balance[data-wei="{before + escrow}"]').wait_for()
    check_page(page, "earnings-reclaimed")


def test_owner_changes_the_price_and_a_stranger_is_refused(page_for, console_stack) -> None:  # type: ignore[no-untyped-def]
    market = console_stack.ledger.market
    seller, vendor = member(console_stack, Role.PROVIDER), member(console_stack, Role.ALGORITHM_PROVIDER)
    ds_id, _ = list_pair(console_stack, seller, vendor, price=10**15)
    wait_for(f"the catalog to index dataset {ds_id}", lambda: httpx.get(
        f"{console_stack.url}/v1/catalog/datasets/{ds_id}").status_code == 200)

    stranger, _ = page_for(vendor)
    sign_in(stranger, console_stack.url, f"datasets/{ds_id}")
    stranger.locator("#onchain-terms").wait_for()
    assert stranger.locator("#change").count() == 0
    stranger.evaluate("""async (id) => {
      const m = await import('/console/static/pages/listing.js');
      document.querySelector('main').append(await m.changeSection(id));
    }""", ds_id)
    stranger.fill("#u-price", "1")
    stranger.get_by_role("button", name="Save the new terms").click()
    alert = stranger.locator(".tx-outcome [role=alert]")
    alert.wait_for()
    said = alert.inner_text()
    assert "NotListingOwner" in said and f"only the owner of listing #{ds_id}" in said
    assert market.dataset(ds_id).price_per_use == 10**15

    page, _ = page_for(seller)
    sign_in(page, console_stack.url, "seller")
    page.get_by_role("link", name=f"Change the terms of dataset #{ds_id}").click()
    section = page.locator("#change")
    section.wait_for()
    assert page.locator("#current-price").get_attribute("data-wei") == str(10**15)
    assert page.input_value("#u-price") == str(10**15) and page.input_value("#u-max-uses") == "5"
    check_page(page, "listing-change")
    # The chain's own refusal of a bad term, in words: an expiry already past.
    page.fill("#u-expires", "2001-01-01T00:00")
    page.get_by_role("button", name="Save the new terms").click()
    alert = section.locator("[role=alert]")
    alert.wait_for()
    assert "ExpiryInPast" in alert.inner_text() and "not in the future" in alert.inner_text()
    page.fill("#u-expires", "")
    page.fill("#u-price", str(3 * 10**15))
    page.get_by_role("button", name="Save the new terms").click()
    confirmed_tx(page)
    record = market.dataset(ds_id)
    assert record.price_per_use == 3 * 10**15 and record.max_uses == 5 and record.owner == seller.address
    page.locator(f'#current-price[data-wei="{3 * 10**15}"]').wait_for()
    check_page(page, "listing-changed")


def test_vendor_changes_an_algorithms_price_and_use_limit(page_for, console_stack) -> None:  # type: ignore[no-untyped-def]
    market = console_stack.ledger.market
    seller, vendor = member(console_stack, Role.PROVIDER), member(console_stack, Role.ALGORITHM_PROVIDER)
    _, algo_id = list_pair(console_stack, seller, vendor, algo_price=2 * 10**14)
    wait_for(f"the catalog to index algorithm {algo_id}", lambda: httpx.get(
        f"{console_stack.url}/v1/catalog/algorithms/{algo_id}").status_code == 200)
    page, _ = page_for(vendor)
    sign_in(page, console_stack.url, "seller")
    page.get_by_role("link", name=f"Change the terms of algorithm #{algo_id}").click()
    page.locator("#change").wait_for()
    # An algorithm has no expiry or data-use policy: the form offers only what updateAlgorithm takes.
    assert page.locator("#u-expires").count() == 0 and page.locator("#u-policy").count() == 0
    page.fill("#u-price", str(5 * 10**14))
    page.fill("#u-max-uses", "7")
    page.get_by_role("button", name="Save the new terms").click()
    confirmed_tx(page)
    record = market.algorithm(algo_id)
    assert record.price_per_use == 5 * 10**14 and record.max_uses == 7
    assert record.secret_params_hash == b"\0" * 32
    page.locator(f'#current-price[data-wei="{5 * 10**14}"]').wait_for()
    check_page(page, "listing-algorithm-changed")
