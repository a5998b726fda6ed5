"""Browser: before a seller signs, the page fetches the job's spec by its on-chain paramsHash, hashes it,
checks the typed data's domain and message against the chain, shows in words what is approved, and refuses
to sign (saying why) when the exchange's answers were tampered with."""

from __future__ import annotations

import json
import re

import pytest

from dx_core.blobstore import LocalBlobStore
from mpc_compute.job_spec import JobInput, JobSpec
from tests.browser.conftest import check_page
from tests.browser.test_console_workflow import h32, wait_job_indexed
from tests.browser.trust import set_trust_anchors

pytestmark = [pytest.mark.browser, pytest.mark.chain, pytest.mark.api]

META = {"title": "Branch deposits 2025", "description": "Monthly deposits by branch.",
        "columns": [{"name": "branch", "dtype": "int32"}, {"name": "deposits", "dtype": "int64"}]}
ALGO = {"title": "Joint statistics (approval tests)"}
FORGED = "0x" + "ab" * 32
OTHER_CONTRACT = "0x" + "12" * 20


@pytest.fixture(scope="module")
def pending_job(console_stack, cast):  # type: ignore[no-untyped-def]
    """A job with a real spec blob (paramsHash = its sha256) waiting for the seller's approval."""
    ledger, w3 = console_stack.ledger, console_stack.w3
    blobs = LocalBlobStore(console_stack.server.settings.resolved_blob_dir)
    manifest = h32("deposits manifest")
    ds = ledger.market.list_dataset(cast.seller, blobs.put(json.dumps(META).encode()), manifest, 3 * 10**15,
                                    max_uses=4)
    algo = ledger.market.list_algorithm(cast.algo_owner, "joint_stats", "1.0", h32("joint_stats code"),
                                        blobs.put(json.dumps(ALGO).encode()), 10**14)
    ds_id, algo_id = ds.event("DatasetListed").args["id"], algo.event("AlgorithmListed").args["id"]
    key = ledger.registry.member(cast.buyer.address).encryption_key
    data = JobInput("data_0", "dataset", ds_id, manifest.hex(), "deposits", ("branch", "deposits"))
    spec = JobSpec("joint_stats", "1.0", (data,), ("stats",), cast.buyer.address, key.hex(),
                   {"min_cohort": 12})
    blobs.put(spec.to_bytes())
    value = ledger.jobs.escrow_for([ds_id], algo_id, cast.buyer.address, ledger.market)
    deadline = w3.eth.get_block("latest")["timestamp"] + 3600
    program = h32("joint_stats program, approval tests")
    req = ledger.jobs.request(cast.buyer, [ds_id], algo_id, spec.digest(), program, key, deadline, value)
    job_id = req.event("JobRequested").args["jobId"]
    wait_job_indexed(console_stack.url, cast.seller, job_id)
    return {"id": job_id, "dataset": ds_id, "algorithm": algo_id, "program": "0x" + program.hex(),
            "value": value, "spec_cid": spec.cid()}


def open_seller_page(page_for, console_stack, cast, job_id: int):  # type: ignore[no-untyped-def]
    page, wallet = page_for(cast.seller)
    page.goto(f"{console_stack.url}/console/seller")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("#signed-in-as").wait_for()
    return page, wallet


def card_of(page, job_id: int):  # type: ignore[no-untyped-def]
    card = page.locator(f'#pending [data-job="{job_id}"]')
    card.wait_for()
    return card


def signed_nothing(page, wallet) -> bool:  # type: ignore[no-untyped-def]
    return "eth_signTypedData_v4" not in wallet.methods() and not [r for r in page.sent if "/approvals" in r]


def test_the_page_shows_in_words_what_the_seller_approves(  # type: ignore[no-untyped-def]
    page_for, console_stack, cast, pending_job
) -> None:
    page, _ = open_seller_page(page_for, console_stack, cast, pending_job["id"])
    job_id = pending_job["id"]
    card = card_of(page, job_id)
    card.locator(f"#checked-{job_id}").wait_for()
    assert card.get_attribute("data-checked") == "ok"
    algorithm = card.locator('[data-fact="algorithm"]').inner_text()
    assert f"joint_stats version 1.0 — listing #{pending_job['algorithm']}" in algorithm
    assert card.locator('[data-fact="params"]').inner_text() == "min_cohort = 12"
    receiver = card.locator('[data-fact="receiver"]').inner_text()
    assert cast.buyer.address in receiver and "(the buyer)" in receiver
    price = card.locator('[data-fact="price"]').inner_text()
    assert f"{META['title']}: 0.003 ETH to you" in price and "total escrow" in price
    rows = card.locator(f"#inputs-{job_id} tbody tr").all_inner_texts()
    assert len(rows) == 1 and META["title"] in rows[0] and "branch, deposits" in rows[0]
    assert "each node recompiles it" in card.inner_text()
    assert card.locator(".program-hash").inner_text() == pending_job["program"]
    assert card.locator(f'[data-policy="{pending_job["dataset"]}"]').inner_text().strip()
    assert card.get_by_role("button", name=f"Approve job {job_id}").is_enabled()
    check_page(page, "seller-approval-review")
    assert page.js_errors == []


@pytest.mark.parametrize("field, forged, reason", [
    ("programHash", FORGED, f"it approves program {FORGED}, not the job's on-chain"),
    ("verifyingContract", OTHER_CONTRACT, f"verifying contract is {OTHER_CONTRACT}, not the ComputeJobs"),
    ("chainId", 1, "its domain names chain 1, not chain"),
])
def test_tampered_typed_data_is_refused(  # type: ignore[no-untyped-def]
    page_for, console_stack, cast, pending_job, field, forged, reason
) -> None:
    page, wallet = open_seller_page(page_for, console_stack, cast, pending_job["id"])
    job_id = pending_job["id"]

    def tamper(route) -> None:  # type: ignore[no-untyped-def]
        typed = route.fetch().json()
        (typed["message"] if field == "programHash" else typed["domain"])[field] = forged
        route.fulfill(json=typed)

    page.route(re.compile(rf".*/v1/jobs/{job_id}/typed-data\?.*"), tamper)
    card = card_of(page, job_id)
    card.locator(f"#checked-{job_id}").wait_for()
    card.get_by_role("button", name=f"Approve job {job_id}").click()
    alert = card.get_by_role("alert")
    alert.get_by_text("was not signed").wait_for()
    assert reason in alert.inner_text()
    assert signed_nothing(page, wallet)
    assert page.evaluate("document.activeElement.getAttribute('role')") == "alert"
    check_page(page, f"seller-refuses-{field}")


def test_a_spec_that_does_not_hash_to_the_params_hash_is_refused(  # type: ignore[no-untyped-def]
    page_for, console_stack, cast, pending_job
) -> None:
    page, wallet = open_seller_page(page_for, console_stack, cast, pending_job["id"])
    job_id = pending_job["id"]

    def swap_algorithm(route) -> None:  # type: ignore[no-untyped-def]
        spec = route.fetch().text().replace('"joint_stats"', '"psi_stats"')
        route.fulfill(body=spec, content_type="application/octet-stream")

    page.route(f"**/v1/blobs/{pending_job['spec_cid']}", swap_algorithm)
    card = card_of(page, job_id)
    refusal = card.locator(f"#refusal-{job_id}")
    refusal.wait_for()
    assert "the spec the exchange served hashes to" in refusal.inner_text()
    assert card.get_attribute("data-checked") == "refused"
    approve = card.get_by_role("button", name=f"Approve job {job_id}")
    assert approve.is_disabled()
    assert approve.get_attribute("aria-describedby") == f"refusal-{job_id}"
    assert signed_nothing(page, wallet)
    check_page(page, "seller-refuses-spec")


def test_an_api_that_misreports_the_job_is_refused(  # type: ignore[no-untyped-def]
    page_for, console_stack, cast, pending_job
) -> None:
    page, wallet = open_seller_page(page_for, console_stack, cast, pending_job["id"])
    job_id = pending_job["id"]

    def misreport(route) -> None:  # type: ignore[no-untyped-def]
        jobs = route.fetch().json()
        for j in jobs:
            if j["id"] == job_id:
                j["program_hash"] = FORGED
        route.fulfill(json=jobs)

    page.route("**/v1/me/requests?*", misreport)
    page.reload()
    card = card_of(page, job_id)
    refusal = card.locator(f"#refusal-{job_id}")
    refusal.wait_for()
    assert f"the exchange lists program hash {FORGED[2:]}" in refusal.inner_text()
    assert card.get_by_role("button", name=f"Approve job {job_id}").is_disabled()
    assert signed_nothing(page, wallet)


def test_the_sellers_own_trust_anchors_decide_the_verifying_contract(  # type: ignore[no-untyped-def]
    page_for, console_stack, cast, pending_job
) -> None:
    """A seller who set trust anchors naming another ComputeJobs: the real job is not found there, so the page
    refuses, whatever the deployment the exchange serves says."""
    page, wallet = open_seller_page(page_for, console_stack, cast, pending_job["id"])
    market = console_stack.ledger.deployment.addresses["Market"]
    set_trust_anchors(page, console_stack.url, computeJobs=market)
    page.goto(f"{console_stack.url}/console/seller")
    job_id = pending_job["id"]
    refusal = card_of(page, job_id).locator(f"#refusal-{job_id}")
    refusal.wait_for()
    assert "has 0 JobRequested events for job" in refusal.inner_text()
    assert "your trust anchors" in refusal.inner_text()
    assert signed_nothing(page, wallet)


def test_the_listing_page_states_the_policy_in_words(page_for, console_stack, pending_job) -> None:  # type: ignore[no-untyped-def]
    page, _ = page_for()
    page.goto(f"{console_stack.url}/console/datasets/{pending_job['dataset']}")
    policy = page.locator("#policy")
    policy.wait_for()
    # The listing commits to no policy: the default one (k = 10, no pre-approval) is what the nodes enforce.
    assert "every released aggregate covers at least 10 rows" in policy.inner_text()
    assert "every job needs the owner's signature" in policy.inner_text()
    check_page(page, "listing-policy-words")


def test_the_review_fits_a_narrow_screen(page_for, console_stack, cast, pending_job) -> None:  # type: ignore[no-untyped-def]
    # A request with no spec behind its paramsHash too: its refusal names the CID, a long unbroken word.
    ledger, w3 = console_stack.ledger, console_stack.w3
    key = ledger.registry.member(cast.buyer.address).encryption_key
    value = ledger.jobs.escrow_for([pending_job["dataset"]], pending_job["algorithm"], cast.buyer.address,
                                   ledger.market)
    deadline = w3.eth.get_block("latest")["timestamp"] + 3600
    req = ledger.jobs.request(cast.buyer, [pending_job["dataset"]], pending_job["algorithm"],
                              h32("narrow screen params"), h32("narrow screen program"), key, deadline, value)
    refused = req.event("JobRequested").args["jobId"]
    wait_job_indexed(console_stack.url, cast.seller, refused)
    page, _ = page_for(cast.seller, width=360, height=740)
    page.goto(f"{console_stack.url}/console/seller")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    card_of(page, pending_job["id"]).locator(f"#checked-{pending_job['id']}").wait_for()
    assert "could not be fetched" in card_of(page, refused).locator(f"#refusal-{refused}").inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the seller page is {width} px wide on a 360 px screen"
    check_page(page, "seller-review-narrow")
    ledger.jobs.decline(cast.seller, refused)  # later tests see only the requests they made
