"""Browser: a dataset's privacy budget in the console, read from the chain, not the API.

The listing shows ε spent and left, the regulator's usage page each job's reservation and its release, the
dashboard the budgeted datasets.
"""

from __future__ import annotations

import json
import os

import httpx
import pytest
from eth_account import Account
from web3 import Web3

from dx_core.blobstore import LocalBlobStore
from dx_core.roles import Role
from tests.browser.conftest import check_page, wait_for
from tests.browser.trust import set_trust_anchors

pytestmark = [pytest.mark.browser, pytest.mark.chain, pytest.mark.api]

META = {"title": "Budgeted test data", "description": "Rows behind a privacy budget.", "tags": ["test"],
        "columns": [{"name": "x", "dtype": "int64"}]}
HELD = "ε 1.0 total, 0.4 per job, 0.4 spent, 0.6 left"
ALGO_META = {"title": "Budget test algorithm", "description": "Joint statistics."}


def h32(label: str) -> bytes:
    return Web3.keccak(text=label)


def member(console_stack, role: Role):  # type: ignore[no-untyped-def]
    account = Account.create()
    console_stack.fund(account.address)
    console_stack.ledger.registry.admit(console_stack.operator, account.address, role, os.urandom(32), "")
    return account


def trio(console_stack):  # type: ignore[no-untyped-def]
    return (member(console_stack, r) for r in (Role.PROVIDER, Role.ALGORITHM_PROVIDER, Role.BUYER))


def list_pair(console_stack, seller, vendor, budget: tuple[int, int] | None):  # type: ignore[no-untyped-def]
    """A dataset (`budget` in micro-ε, if any) and an algorithm, indexed by the API; (dataset, algorithm)."""
    market = console_stack.ledger.market
    blobs = LocalBlobStore(console_stack.server.settings.resolved_blob_dir)
    cid = blobs.put(json.dumps(META).encode())
    ds = market.list_dataset(seller, cid, h32("manifest"), 10**15, max_uses=5)
    ds_id = ds.event("DatasetListed").args["id"]
    if budget is not None:
        market.set_privacy_budget(seller, ds_id, *budget)
    algo = market.list_algorithm(vendor, "joint_stats", "1.0", h32("code"),
                                 blobs.put(json.dumps(ALGO_META).encode()), 2 * 10**14)
    wait_for(f"the API to index dataset {ds_id}", lambda: httpx.get(
        f"{console_stack.url}/v1/catalog/datasets/{ds_id}").status_code == 200)
    return ds_id, algo.event("AlgorithmListed").args["id"]


def request_job(console_stack, buyer, ds_id: int, algo_id: int) -> int:  # type: ignore[no-untyped-def]
    # callers take the `cast` fixture: it registers the compute cluster a request needs
    """The buyer's job, requested on-chain: the request itself reserves the dataset's per-job ε."""
    ledger, w3 = console_stack.ledger, console_stack.w3
    value = ledger.jobs.escrow_for([ds_id], algo_id, buyer.address, ledger.market)
    deadline = w3.eth.get_block("latest")["timestamp"] + 3600
    key = ledger.registry.member(buyer.address).encryption_key
    req = ledger.jobs.request(buyer, [ds_id], algo_id, h32(f"params {os.urandom(8).hex()}"), h32("program"),
                              key, deadline, value)
    return req.event("JobRequested").args["jobId"]


def regulator_page(page_for, console_stack, cast):  # type: ignore[no-untyped-def]
    """The regulator signed in, with the trust anchors every on-chain read of the audit pages uses."""
    page, _ = page_for(cast.regulator)
    page.goto(f"{console_stack.url}/console/audit")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("#signed-in-as").wait_for()
    set_trust_anchors(page, console_stack.url)
    return page


def budget_fact(page, url: str, ds_id: int) -> str:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/console/datasets/{ds_id}")
    fact = page.locator("#privacy-budget")
    fact.wait_for()
    return fact.inner_text().strip()


def test_budget_spent_by_a_request_and_given_back_by_a_decline(page_for, console_stack, cast) -> None:  # type: ignore[no-untyped-def]
    ledger = console_stack.ledger
    seller, vendor, buyer = trio(console_stack)
    ds_id, algo_id = list_pair(console_stack, seller, vendor, (1_000_000, 400_000))
    job_id = request_job(console_stack, buyer, ds_id, algo_id)
    assert ledger.market.reserved_epsilon(job_id, ds_id) == 400_000

    page, _ = page_for()
    assert budget_fact(page, console_stack.url, ds_id) == HELD
    meter = page.locator("#privacy-budget meter")
    assert meter.get_attribute("aria-label") == f"Privacy budget: {HELD}"
    assert float(meter.get_attribute("value")) == pytest.approx(0.4)
    check_page(page, "listing-budget")

    reg = regulator_page(page_for, console_stack, cast)
    reg.goto(f"{console_stack.url}/console/audit/datasets/{ds_id}")
    summary = reg.locator("#budget-summary")
    summary.get_by_text("the ε events add up to").wait_for()
    assert HELD in summary.inner_text()
    row = reg.locator(f'#epsilon-jobs tr[data-job="{job_id}"]')
    assert row.get_attribute("data-state") == "held"
    assert row.locator("td").all_inner_texts()[1:] == ["0.4", "—", "ε 0.4 (spent)"]
    assert "ε 0.4 reserved by 1 job," in reg.locator("#budget-totals").inner_text()
    check_page(reg, "usage-budget-held")

    reg.goto(f"{console_stack.url}/console/audit")
    dash = reg.locator(f'#budget-table tr[data-dataset="{ds_id}"]')
    dash.wait_for()
    assert dash.locator("td").all_inner_texts()[1:] == ["1.0", "0.4", "0.4", "0.6"]
    reg.locator("#alerts").wait_for()
    check_page(reg, "audit-budgets")

    # The owner declines: the chain gives the ε back, and every page says so from the chain's own record.
    ledger.jobs.decline(seller, job_id)
    assert ledger.market.reserved_epsilon(job_id, ds_id) == 0
    assert budget_fact(page, console_stack.url, ds_id) == "ε 1.0 total, 0.4 per job, 0.0 spent, 1.0 left"
    assert page.locator("#privacy-budget").get_attribute("data-spent") == "0"

    reg.goto(f"{console_stack.url}/console/audit/datasets/{ds_id}")
    reg.locator("#budget-summary").get_by_text("the ε events add up to the 0.0").wait_for()
    row = reg.locator(f'#epsilon-jobs tr[data-job="{job_id}"]')
    assert row.get_attribute("data-state") == "released"
    assert row.locator("td").all_inner_texts()[1:] == ["0.4", "0.4", "nothing (released)"]
    assert "ε 0.0 held" in reg.locator("#budget-totals").inner_text()
    check_page(reg, "usage-budget-released")
    assert page.js_errors == [] and reg.js_errors == []


def test_a_spent_budget_says_no_job_fits(page_for, console_stack, cast) -> None:  # type: ignore[no-untyped-def]
    seller, vendor, buyer = trio(console_stack)
    ds_id, algo_id = list_pair(console_stack, seller, vendor, (500_000, 400_000))
    request_job(console_stack, buyer, ds_id, algo_id)
    page, _ = page_for(width=360, height=740)
    fact = budget_fact(page, console_stack.url, ds_id)
    assert fact.startswith("ε 0.5 total, 0.4 per job, 0.4 spent, 0.1 left"), fact
    page.locator("#privacy-budget").get_by_text("no further job fits").wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the listing page is {width} px wide on a 360 px screen"


def test_no_budget_reads_exact_aggregates(page_for, console_stack, cast) -> None:  # type: ignore[no-untyped-def]
    seller, vendor = member(console_stack, Role.PROVIDER), member(console_stack, Role.ALGORITHM_PROVIDER)
    ds_id, _ = list_pair(console_stack, seller, vendor, None)
    page, _ = page_for()
    assert budget_fact(page, console_stack.url, ds_id) == "no privacy budget (exact aggregates)"

    reg = regulator_page(page_for, console_stack, cast)
    reg.goto(f"{console_stack.url}/console/audit/datasets/{ds_id}")
    reg.locator("#budget-summary").get_by_text("No privacy budget (exact aggregates).").wait_for()
    reg.get_by_text("No job has reserved ε of this dataset.").wait_for()
    reg.goto(f"{console_stack.url}/console/audit")
    reg.locator("#budget-table").wait_for()
    assert reg.locator(f'#budget-table tr[data-dataset="{ds_id}"]').count() == 0


def test_the_regulator_page_takes_no_budget_from_the_servers_chain(page_for, console_stack, cast) -> None:  # type: ignore[no-untyped-def]
    """Without the regulator's own trust anchors the page reads no ε at all rather than the served chain's."""
    seller, vendor = member(console_stack, Role.PROVIDER), member(console_stack, Role.ALGORITHM_PROVIDER)
    ds_id, _ = list_pair(console_stack, seller, vendor, (1_000_000, 400_000))
    page, _ = page_for(cast.regulator, width=360, height=740)
    page.goto(f"{console_stack.url}/console/audit/datasets/{ds_id}")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("#signed-in-as").wait_for()
    summary = page.locator("#budget-summary")
    summary.wait_for()
    assert "not read from the chain" in summary.inner_text() and "trust anchors" in summary.inner_text()
    assert "1.0 total" not in page.locator("main").inner_text()
    assert page.locator("#epsilon-jobs").count() == 0
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the usage page is {width} px wide on a 360 px screen"
    page.goto(f"{console_stack.url}/console/audit")
    page.locator("#budget-table").get_by_text("not read from the chain").wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the dashboard is {width} px wide on a 360 px screen"
    check_page(page, "audit-budgets-no-anchors")
