"""Browser: a seller approves a request with an EIP-712 signature from the wallet (relayed on-chain by the
API), the buyer watches the job's timeline advance as the nodes attest on-chain, and the regulator sees the
real job's trail proved."""

from __future__ import annotations

import hashlib
import json
import os
import time

import httpx
import pytest
from eth_account.messages import encode_typed_data
from web3 import Web3

from contracts.types import JobStatus
from dx_core.blobstore import LocalBlobStore
from mpc_compute.job_spec import JobInput, JobSpec
from notarizer.anchorer import Anchorer
from notarizer.log import TransparencyLog
from tests.browser.conftest import check_page, wait_for
from tests.browser.trust import set_trust_anchors
from tests.fixtures.api import sign_text, siwe_message

pytestmark = [pytest.mark.browser, pytest.mark.chain, pytest.mark.api]

DATASET_META = {"title": "Hospital admissions 2025",
                "description": "Daily admissions by ward, three hospitals.",
                "tags": ["health"], "columns": [{"name": "ward", "dtype": "int32"},
                                                {"name": "admissions", "dtype": "int64"}]}
ALGO_META = {"title": "Joint statistics", "description": "Sum, mean and variance across providers."}


def h32(label: str) -> bytes:
    return Web3.keccak(text=label)


def token_for(url: str, account) -> str:  # type: ignore[no-untyped-def]
    """Sign in through the API as `account` would from its own wallet (for owners not in the browser)."""
    with httpx.Client(base_url=url) as client:
        nonce = client.get("/v1/auth/nonce").json()
        message = siwe_message(account, nonce["domain"], nonce["nonce"], nonce["chain_id"])
        signed = {"message": message, "signature": sign_text(account, message)}
        resp = client.post("/v1/auth/login", json=signed)
        resp.raise_for_status()
        return resp.json()["access_token"]


def wait_job_indexed(url: str, account, job_id: int) -> None:  # type: ignore[no-untyped-def]
    """Wait until the API has indexed `job_id` from the chain: a page loaded before that would not list it."""
    auth = {"Authorization": f"Bearer {token_for(url, account)}"}
    wait_for(f"the API to index job {job_id}",
             lambda: httpx.get(f"{url}/v1/jobs/{job_id}", headers=auth).status_code == 200)


@pytest.fixture(scope="module")
def job(console_stack, cast):  # type: ignore[no-untyped-def]
    """A dataset and an algorithm listed on-chain, and a job the buyer requested on-chain for them."""
    ledger, w3 = console_stack.ledger, console_stack.w3
    blobs = LocalBlobStore(console_stack.server.settings.resolved_blob_dir)
    ds_cid = blobs.put(json.dumps(DATASET_META).encode())
    algo_cid = blobs.put(json.dumps(ALGO_META).encode())
    ds = ledger.market.list_dataset(cast.seller, ds_cid, h32("manifest"), 10**15, max_uses=5)
    algo = ledger.market.list_algorithm(cast.algo_owner, "joint_stats", "1.0", h32("code"), algo_cid,
                                        2 * 10**14)
    ds_id, algo_id = ds.event("DatasetListed").args["id"], algo.event("AlgorithmListed").args["id"]
    value = ledger.jobs.escrow_for([ds_id], algo_id, cast.buyer.address, ledger.market)
    deadline = w3.eth.get_block("latest")["timestamp"] + 3600
    program = h32("joint_stats program for job")
    # The seller's page fetches this spec by the job's paramsHash and checks it before the seller signs.
    key = ledger.registry.member(cast.buyer.address).encryption_key
    data = JobInput("data_0", "dataset", ds_id, h32("manifest").hex(), "admissions", ("ward", "admissions"))
    spec = JobSpec("joint_stats", "1.0", (data,), ("stats",), cast.buyer.address, key.hex(),
                   {"min_cohort": 10})
    blobs.put(spec.to_bytes())
    req = ledger.jobs.request(cast.buyer, [ds_id], algo_id, spec.digest(), program, key, deadline, value)
    job_id = req.event("JobRequested").args["jobId"]
    wait_job_indexed(console_stack.url, cast.buyer, job_id)
    return {"id": job_id, "dataset": ds_id, "algorithm": algo_id, "program": program, "blobs": blobs,
            "dataset_tx": str(ds.tx_hash), "value": value}


def approve_via_api(url: str, account, job_id: int, w3) -> None:  # type: ignore[no-untyped-def]
    token = token_for(url, account)
    auth = {"Authorization": f"Bearer {token}"}
    now = max(int(time.time()), w3.eth.get_block("latest")["timestamp"])
    nonce, deadline = int.from_bytes(os.urandom(6), "big"), now + 3600
    typed = httpx.get(f"{url}/v1/jobs/{job_id}/typed-data", headers=auth,
                      params={"nonce": nonce, "deadline": deadline}).json()
    signature = account.sign_message(encode_typed_data(full_message=typed)).signature.to_0x_hex()
    body = {"owner": account.address, "signature": signature, "nonce": nonce, "deadline": deadline}
    resp = httpx.post(f"{url}/v1/jobs/{job_id}/approvals", headers=auth, json=body)
    assert resp.status_code == 200, resp.text


def test_seller_approves_in_the_wallet_and_buyer_watches_the_timeline(  # type: ignore[no-untyped-def]
    page_for, console_stack, cast, job
) -> None:
    ledger, url, job_id = console_stack.ledger, console_stack.url, job["id"]
    program_hex = "0x" + job["program"].hex()
    others = [o for o in ledger.jobs.job(job_id).terms.owners if o != cast.seller.address]
    for owner in {o for o in others}:
        account = next(a for a in (cast.algo_owner, cast.buyer) if a.address == owner)
        approve_via_api(url, account, job_id, console_stack.w3)
    assert ledger.jobs.job(job_id).status == JobStatus.REQUESTED

    seller_page, wallet = page_for(cast.seller)
    seller_page.goto(f"{url}/console/seller")
    seller_page.get_by_role("button", name="Sign in with Ethereum").click()
    card = seller_page.locator(f'#pending [data-job="{job_id}"]')
    card.wait_for()
    card.locator(f"#checked-{job_id}").wait_for()
    assert card.locator(".program-hash").inner_text() == program_hex
    assert "joint_stats version 1.0" in card.locator('[data-fact="algorithm"]').inner_text()
    assert cast.buyer.address in card.inner_text() and "Joint statistics" in card.inner_text()
    assert seller_page.locator(f'#my-listings [data-listing="dataset:{job["dataset"]}"]').count() == 1
    check_page(seller_page, "seller-pending")

    card.get_by_role("button", name=f"Approve job {job_id}").click()
    card.get_by_text("Relayed on-chain in transaction").wait_for()
    assert ledger.jobs.job(job_id).status == JobStatus.AUTHORIZED
    _, (signer, payload) = next(c for c in wallet.calls if c[0] == "eth_signTypedData_v4")
    typed = json.loads(payload)
    assert signer == cast.seller.address and typed["primaryType"] == "Approval"
    assert typed["message"]["programHash"].lower() == program_hex and typed["message"]["jobId"] == job_id
    check_page(seller_page, "seller-approved")

    buyer_page, _ = page_for(cast.buyer)
    buyer_page.goto(f"{url}/console/jobs")
    buyer_page.get_by_role("button", name="Sign in with Ethereum").click()
    buyer_page.locator(f'#jobs [data-job="{job_id}"]').wait_for()
    check_page(buyer_page, "buyer-jobs")
    buyer_page.get_by_role("link", name=f"Job {job_id}", exact=True).click()
    step = lambda key: buyer_page.locator(f'#timeline [data-step="{key}"]')  # noqa: E731
    step("authorized").and_(buyer_page.locator('[data-state="done"]')).wait_for()
    assert step("node-0").get_attribute("data-state") == "active"
    assert step("settled").get_attribute("data-state") == "todo"

    # The nodes' on-chain stages, driven through the ledger bindings (the SPU cluster is too slow here).
    for i, node in enumerate(cast.nodes):
        share = os.urandom(96)
        job["blobs"].put(share)
        ledger.jobs.attest(node, job_id, h32("inputs digest"), job["program"], hashlib.sha256(share).digest())
        step(f"node-{i}").and_(buyer_page.locator('[data-state="done"]')).wait_for()
    step("attested").and_(buyer_page.locator('[data-state="done"]')).wait_for()
    step("settled").and_(buyer_page.locator('[data-state="done"]')).wait_for()
    assert ledger.jobs.job(job_id).status == JobStatus.COMPLETED
    for node in cast.nodes:
        ledger.jobs.attest_destruction(node, job_id, h32("destruction receipt"))
    step("destroyed").and_(buyer_page.locator('[data-state="done"]')).wait_for()
    assert buyer_page.locator("#shares tbody tr").count() == 3
    assert buyer_page.locator("#shares .badge-ok").count() == 3
    check_page(buyer_page, "buyer-job-timeline")
    seller_page.goto(f"{url}/console/seller")
    row = seller_page.locator(f'#my-listings [data-listing="dataset:{job["dataset"]}"]')
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert "1 of 5 uses" in cells[2] and cells[4] == "1" and cells[5] == "0.001 ETH", cells
    check_page(seller_page, "seller-earnings")
    assert seller_page.js_errors == [] and buyer_page.js_errors == []
    # The wallet signed; the page only ever sent addresses and signatures.
    for page, account in ((seller_page, cast.seller), (buyer_page, cast.buyer)):
        secret = account.key.hex().removeprefix("0x")
        assert any("/approvals" in r for r in page.sent) or page is buyer_page
        assert not [r for r in page.sent if secret in r.lower()]


def test_regulator_proves_the_real_jobs_trail(page_for, console_stack, cast, job) -> None:  # type: ignore[no-untyped-def]
    tlog = TransparencyLog(console_stack.engine)
    wait_for("the indexer to notarize the job's destruction receipts",
             lambda: tlog.count(subject=f"job:{job['id']}", kind="node.destruction") == 3)
    anchorer = Anchorer(tlog, console_stack.ledger, console_stack.operator, every_entries=1, every_seconds=0)
    anchorer.run_once(force=True)
    page, _ = page_for(cast.regulator)
    set_trust_anchors(page, console_stack.url)
    page.goto(f"{console_stack.url}/console/audit/jobs/{job['id']}")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("#trail-summary").get_by_text("entries proved against anchored checkpoints").wait_for()
    kinds = page.locator("#trail tbody tr td:nth-child(3)").all_inner_texts()
    for kind in ("job.requested", "approval.signature", "job.authorized", "node.attestation", "job.completed",
                 "node.destruction"):
        assert kind in kinds, f"{kind} missing from the trail {kinds}"
    states = set(page.locator("#trail tbody tr").evaluate_all("rs => rs.map(r => r.dataset.state)"))
    assert states == {"ok"}
    check_page(page, "audit-real-job-trail")

    page.goto(f"{console_stack.url}/console/audit/datasets/{job['dataset']}")
    summary = page.locator("#usage-summary")
    summary.get_by_text("usage entries proved on-chain").wait_for()
    assert "1 metered uses of 5 allowed" in summary.inner_text()
    assert set(page.locator("#usage tbody tr").evaluate_all("rs => rs.map(r => r.dataset.state)")) == {"ok"}
    by_buyer = page.get_by_role("list", name="Uses by buyer").inner_text()
    assert cast.buyer.address[:10] in by_buyer and by_buyer.split()[-1] == "1"
    check_page(page, "audit-real-dataset-usage")


def test_listing_page_finds_its_listing_transaction_on_chain(page_for, console_stack, job) -> None:  # type: ignore[no-untyped-def]
    page, _ = page_for()
    page.goto(f"{console_stack.url}/console/datasets/{job['dataset']}")
    page.get_by_role("heading", name=DATASET_META["title"], level=1).wait_for()
    tx = page.locator("#listing-tx code")
    tx.wait_for()
    want = job["dataset_tx"].lower()
    assert tx.get_attribute("title").lower() == (want if want.startswith("0x") else "0x" + want)
    assert "listing event found on-chain" in page.locator("#onchain").inner_text()
    terms = page.locator("#onchain-terms")
    terms.wait_for()
    assert "Usage 1 of 5 and every term match the chain" in terms.inner_text()
    assert "admissions" in page.locator("main").inner_text()
    check_page(page, "listing-onchain")


def test_seller_declines_a_request(page_for, console_stack, cast, job) -> None:  # type: ignore[no-untyped-def]
    ledger, w3 = console_stack.ledger, console_stack.w3
    deadline = w3.eth.get_block("latest")["timestamp"] + 3600
    value = ledger.jobs.escrow_for([job["dataset"]], job["algorithm"], cast.buyer.address, ledger.market)
    key = ledger.registry.member(cast.buyer.address).encryption_key
    # No spec behind this paramsHash: the page refuses to approve, but a decline needs no spec.
    req = ledger.jobs.request(cast.buyer, [job["dataset"]], job["algorithm"], h32("params 2"),
                              h32("program 2"), key, deadline, value)
    job_id = req.event("JobRequested").args["jobId"]
    wait_job_indexed(console_stack.url, cast.seller, job_id)
    page, wallet = page_for(cast.seller)
    page.goto(f"{console_stack.url}/console/seller")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    card = page.locator(f'#pending [data-job="{job_id}"]')
    card.wait_for()
    assert "could not be fetched" in card.locator(f"#refusal-{job_id}").inner_text()
    assert card.get_by_role("button", name=f"Approve job {job_id}").is_disabled()
    card.get_by_role("button", name=f"Decline job {job_id}").click()
    card.get_by_text("Relayed on-chain in transaction").wait_for()
    assert ledger.jobs.job(job_id).status == JobStatus.DECLINED
    typed = json.loads(next(p for m, p in wallet.calls if m == "eth_signTypedData_v4")[1])
    assert typed["primaryType"] == "Decline" and typed["message"]["jobId"] == job_id
