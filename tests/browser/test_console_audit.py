"""Browser: the regulator's dashboard re-verifies checkpoints on-chain and trail proofs in the page itself,
and names the entry a database tamperer altered."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from exchange_api.catalog.store import upsert_listing
from notarizer.anchorer import Anchorer
from notarizer.log import TransparencyLog
from tests.browser.conftest import check_page
from tests.browser.trust import set_trust_anchors

pytestmark = [pytest.mark.browser, pytest.mark.chain, pytest.mark.api]

JOB = 77
DATASET = 9101
READ_PAYLOAD = text("SELECT payload FROM log_entries WHERE seq = :s")
WRITE_HASH = text("UPDATE log_entries SET payload_hash = :h WHERE seq = :s")
INSERT_CHECKPOINT = text("INSERT INTO log_checkpoints (idx, tree_size, root, tx_hash, block_number, "
                         "anchored_at_us) VALUES (:i, :n, :r, :t, 1, 1795000000000000)")
DELETE_CHECKPOINT = text("DELETE FROM log_checkpoints WHERE idx = :i")


@pytest.fixture(scope="module")
def regulator(cast):  # type: ignore[no-untyped-def]
    return cast.regulator


@pytest.fixture(scope="module")
def anchored_trail(console_stack, cast):  # type: ignore[no-untyped-def]
    """A job's trail written through the notarizer's log into the API's database, anchored twice."""
    tlog = TransparencyLog(console_stack.engine)
    anchorer = Anchorer(tlog, console_stack.ledger, console_stack.operator, every_entries=1, every_seconds=0)
    buyer, seller = cast.buyer.address, cast.seller.address
    subjects = [f"job:{JOB}", f"dataset:{DATASET}", "algorithm:3"]
    seqs = {}
    # A float and an integer beyond 2**53 check that the page hashes numbers as the server spelled them.
    request = {"buyer": buyer, "algorithm": "algorithm:3", "payment_wei": "5000000000000000",
               "fee_ratio": 0.025, "big": 2**70}
    seqs["requested"] = tlog.append("job.requested", buyer, subjects, request).seq
    anchorer.run_once(force=True)
    seqs["approval"] = tlog.append("approval.signature", seller, subjects, {"decision": "approve"}).seq
    seqs["authorized"] = tlog.append("job.authorized", "system", subjects,
                                     {"buyer": buyer, "algorithm": "algorithm:3", "uses": 1}).seq
    for node in range(3):
        tlog.append("node.attestation", cast.nodes[node].address, [f"job:{JOB}"],
                    {"node": node, "output_share_hash": f"{node:064x}"})
    tlog.append("job.completed", "system", subjects, {"result_hash": "ab" * 32})
    tlog.append("job.settled", "system", subjects, {"paid_wei": "5000000000000000"})
    anchorer.run_once(force=True)
    return seqs


def sign_in(page, url: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in as the regulator, who has set the trust anchors the page checks the chain with."""
    page.goto(f"{url}/console/audit")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("#signed-in-as").wait_for()
    set_trust_anchors(page, url)
    page.goto(f"{url}/console/audit")


def test_dashboard_and_trail_verify_green(page_for, console_stack, regulator, anchored_trail) -> None:  # type: ignore[no-untyped-def]
    page, _ = page_for(regulator)
    sign_in(page, console_stack.url)
    summary = page.locator("#checkpoint-summary")
    summary.get_by_text("checkpoints verified on-chain").wait_for()
    page.locator("#alerts").wait_for()
    rows = page.locator("#checkpoints tbody tr")
    assert rows.count() >= 2
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.state)") == ["ok"] * rows.count()
    assert page.locator("#checkpoints .badge-bad").count() == 0
    check_page(page, "audit-dashboard")

    page.get_by_label("Job trail").fill(str(JOB))
    page.get_by_role("button", name="Open trail").click()
    page.locator("#trail-summary").get_by_text("entries proved against anchored checkpoints").wait_for()
    states = page.locator("#trail tbody tr").evaluate_all("rs => rs.map(r => r.dataset.state)")
    assert states == ["ok"] * 8
    assert page.locator("#trail .badge-ok").count() == 8
    check_page(page, "audit-trail")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the signed bundle").click()
    bundle = json.loads(Path(download.value.path()).read_text())
    assert bundle["subject"] == f"job:{JOB}" and len(bundle["entries"]) == 8

    page.goto(f"{console_stack.url}/console/audit/datasets/{DATASET}")
    page.locator("#usage-summary").get_by_text("usage entries proved on-chain").wait_for()
    assert page.locator("svg.chart path.line").count() == 1
    assert page.locator("#usage tbody tr").count() == 4
    assert page.get_by_role("list", name="Uses by buyer").inner_text().split()[-1] == "1"
    check_page(page, "audit-usage")
    assert page.js_errors == []


def test_trail_fits_a_narrow_screen(page_for, console_stack, regulator, anchored_trail) -> None:  # type: ignore[no-untyped-def]
    page, _ = page_for(regulator, width=360, height=740)
    sign_in(page, console_stack.url)
    for path in (f"audit/jobs/{JOB}", "audit", f"audit/datasets/{DATASET}"):
        page.goto(f"{console_stack.url}/console/{path}")
        page.locator(".summary .badge").first.wait_for()
        if path.startswith("audit/datasets/"):  # its budget section is read from the chain after the rest
            page.locator("#budget-summary .badge").wait_for()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"/console/{path} is {width} px wide on a 360 px screen"
    check_page(page, "audit-usage-narrow")


def test_tampered_entry_is_named(page_for, console_stack, regulator, anchored_trail) -> None:  # type: ignore[no-untyped-def]
    seq = anchored_trail["authorized"]
    with console_stack.engine.begin() as conn:
        original = conn.execute(READ_PAYLOAD, {"s": seq}).scalar_one()
        forged = json.dumps({**json.loads(original), "uses": 0}, sort_keys=True, separators=(",", ":"))
        conn.execute(text("UPDATE log_entries SET payload = :p WHERE seq = :s"), {"p": forged, "s": seq})
    try:
        page, _ = page_for(regulator)
        sign_in(page, console_stack.url)
        page.goto(f"{console_stack.url}/console/audit/jobs/{JOB}")
        alert = page.locator("#trail-alert")
        alert.wait_for()
        assert f"#{seq} job.authorized" in alert.inner_text()
        assert "payload hashes to" in alert.inner_text()
        states = page.locator("#trail tbody tr").evaluate_all(
            "rs => rs.map(r => [Number(r.dataset.seq), r.dataset.state])")
        assert [s for s, state in states if state == "bad"] == [seq]
        assert f"1 of 8 entries fail verification: #{seq}" in page.locator("#trail-summary").inner_text()
        check_page(page, "audit-trail-tampered")
        # The dashboard itself re-verifies recent trails and names the bad entry among its alerts.
        page.goto(f"{console_stack.url}/console/audit")
        page.locator("#alerts").wait_for()
        alerts = page.locator("#alerts").inner_text()
        assert f"Entry #{seq} (job.authorized) of job {JOB} fails verification" in alerts
        assert "1 of 8 entries fail" in page.locator(f'#recent-jobs [data-job="{JOB}"]').inner_text()
        check_page(page, "audit-dashboard-tampered")

        # A forger who also fixes the payload hash changes the leaf: the inclusion proof then fails.
        with console_stack.engine.begin() as conn:
            digest = hashlib.sha256(forged.encode()).hexdigest()
            conn.execute(WRITE_HASH, {"h": digest, "s": seq})
        page.goto(f"{console_stack.url}/console/audit/jobs/{JOB}")
        page.locator("#trail-alert").wait_for()
        alert_text = page.locator("#trail-alert").inner_text()
        assert "inclusion proof does not lead to the anchored root" in alert_text
    finally:
        with console_stack.engine.begin() as conn:
            conn.execute(text("UPDATE log_entries SET payload = :p, payload_hash = :h WHERE seq = :s"),
                         {"p": original, "h": hashlib.sha256(original.encode()).hexdigest(),
                          "s": seq})


def test_alerts_name_disputes_near_limits_and_unanchored_checkpoints(  # type: ignore[no-untyped-def]
    page_for, console_stack, regulator, anchored_trail
) -> None:
    tlog = TransparencyLog(console_stack.engine)
    tlog.append("job.disputed", "system", ["job:78", f"dataset:{DATASET}"],
                {"expected_digest": "11" * 32, "attested_digest": "22" * 32})
    with Session(console_stack.engine) as s:
        upsert_listing(s, "dataset", 9102, metadata={"title": "Nearly used up"}, owner=regulator.address,
                       metadata_cid="bafkreinearly", price_wei=1, max_uses=10, uses=9, created_block=1)
        s.commit()
    # A checkpoint the database claims but the Notary never anchored (a failed or forged anchor).
    fake_index = len(tlog.checkpoints())
    with console_stack.engine.begin() as conn:
        fake = {"i": fake_index, "n": tlog.size(), "r": "ee" * 32, "t": "0x" + "cc" * 32}
        conn.execute(INSERT_CHECKPOINT, fake)
    try:
        page, _ = page_for(regulator)
        sign_in(page, console_stack.url)
        alerts = page.locator("#alerts")
        alerts.wait_for()
        text = alerts.inner_text()
        assert "Job 78 is disputed" in text
        assert "Nearly used up (dataset #9102) has used 9 of its 10 allowed uses (90%)" in text
        assert f"Checkpoint #{fake_index} failed: the Notary holds only {fake_index} checkpoints" in text
        bad_row = page.locator(f'#checkpoints tr[data-checkpoint="{fake_index}"]')
        assert bad_row.get_attribute("data-state") == "bad"
        assert "1 of" in page.locator("#checkpoint-summary").inner_text()
        check_page(page, "audit-alerts")
    finally:
        with console_stack.engine.begin() as conn:
            conn.execute(DELETE_CHECKPOINT, {"i": fake_index})


def test_the_page_trusts_neither_the_server_nor_an_unreachable_chain(  # type: ignore[no-untyped-def]
    page_for, console_stack, regulator, anchored_trail
) -> None:
    page, _ = page_for(regulator)
    sign_in(page, console_stack.url)

    # A lying server: checkpoint #0's root rewritten in flight. The Notary contract disagrees.
    def lie_about_root(route) -> None:  # type: ignore[no-untyped-def]
        body = route.fetch().json()
        body["checkpoints"][0]["root"] = "ab" * 32
        route.fulfill(json=body)

    page.route("**/v1/audit/checkpoints", lie_about_root)
    page.goto(f"{console_stack.url}/console/audit")
    row = page.locator('#checkpoints tr[data-checkpoint="0"]')
    row.wait_for()
    assert row.get_attribute("data-state") == "bad"
    assert "the Notary records size" in row.inner_text()
    page.unroute("**/v1/audit/checkpoints")

    # A forged audit path for one entry: its inclusion proof no longer reaches the anchored root.
    def forge_path(route) -> None:  # type: ignore[no-untyped-def]
        body = route.fetch().json()
        body["entries"][1]["inclusion"]["audit_path"][0] = "cd" * 32
        route.fulfill(json=body)

    page.route(f"**/v1/audit/jobs/{JOB}/trail", forge_path)
    page.goto(f"{console_stack.url}/console/audit/jobs/{JOB}")
    page.locator("#trail-alert").wait_for()
    assert f"#{anchored_trail['approval']} approval.signature" in page.locator("#trail-alert").inner_text()
    page.unroute(f"**/v1/audit/jobs/{JOB}/trail")

    # No chain to ask: nothing is shown as verified.
    rpc = page.evaluate("document.body.dataset.rpcUrl")
    page.route(f"{rpc.rstrip('/')}/**", lambda route: route.abort())
    page.route(rpc, lambda route: route.abort())
    page.goto(f"{console_stack.url}/console/audit")
    page.locator("#alerts").wait_for()
    assert "could not be checked on-chain" in page.locator("#alerts").inner_text()
    assert f"8 entries of job {JOB} cannot be proved" in page.locator("#alerts").inner_text()
    assert page.locator("#checkpoints .badge-ok").count() == 0
    check_page(page, "audit-chain-unreachable")
