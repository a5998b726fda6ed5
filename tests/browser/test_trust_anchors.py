"""Browser: the regulator's dashboard checks against the chain and Notary the regulator configured in the
browser, never against the ones the audited API puts in the page; the API's values are only a suggestion."""

from __future__ import annotations

import re

import pytest

from notarizer.anchorer import Anchorer
from notarizer.log import TransparencyLog
from tests.browser.conftest import check_page
from tests.browser.trust import set_trust_anchors

pytestmark = [pytest.mark.browser, pytest.mark.chain, pytest.mark.api]

# An address with no Notary behind it: what a lying exchange would name (its own contract, or nothing).
FORGED_NOTARY = "0x" + "5e" * 20
DEAD_RPC = "http://127.0.0.1:9/"


@pytest.fixture(scope="module")
def anchored(console_stack, cast):  # type: ignore[no-untyped-def]
    """At least one anchored checkpoint on the suite's Notary."""
    tlog = TransparencyLog(console_stack.engine)
    tlog.append("job.requested", cast.buyer.address, ["job:901"], {"buyer": cast.buyer.address})
    Anchorer(tlog, console_stack.ledger, console_stack.operator, every_entries=1, every_seconds=0).run_once(
        force=True)
    return console_stack.ledger.deployment.addresses["Notary"]


def sign_in(page, url: str, path: str = "audit") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/console/{path}")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("#signed-in-as").wait_for()


def lie_in_the_shell(page, url: str, notary: str) -> None:  # type: ignore[no-untyped-def]
    """Every console page the server sends names FORGED_NOTARY and a dead RPC instead of the real ones."""
    def rewrite(route) -> None:  # type: ignore[no-untyped-def]
        resp = route.fetch()
        body = re.sub(notary, FORGED_NOTARY, resp.text(), flags=re.IGNORECASE)
        body = re.sub(r'data-rpc-url="[^"]*"', f'data-rpc-url="{DEAD_RPC}"', body)
        route.fulfill(response=resp, body=body)

    page.route(re.compile(re.escape(url) + r"/console/(audit|trust|seller)?$"), rewrite)


def test_a_lying_api_does_not_move_what_the_dashboard_verifies_against(  # type: ignore[no-untyped-def]
    page_for, console_stack, cast, anchored
) -> None:
    page, _ = page_for(cast.regulator)
    sign_in(page, console_stack.url)
    set_trust_anchors(page, console_stack.url)
    lie_in_the_shell(page, console_stack.url, anchored)
    page.goto(f"{console_stack.url}/console/audit")
    assert page.evaluate("document.body.dataset.notary").lower() == FORGED_NOTARY
    page.locator("#checkpoint-summary").get_by_text("checkpoints verified on-chain").wait_for()
    panel = page.locator("#trust-anchors")
    assert panel.locator('[data-anchor="notary"]').inner_text().lower() == anchored.lower()
    assert panel.locator('[data-anchor="rpcUrl"]').inner_text() == console_stack.server.settings.rpc_url
    # The lie is shown, named, and not used.
    suggestion = page.locator("#trust-suggestion").inner_text().lower()
    assert FORGED_NOTARY in suggestion and anchored.lower() in suggestion and DEAD_RPC in suggestion
    assert page.locator("#checkpoints .badge-bad").count() == 0
    check_page(page, "trust-dashboard-lying-api")
    # No request of the page went to the RPC the API named.
    assert not [r for r in page.sent if r.startswith(DEAD_RPC)]
    assert page.js_errors == []


def test_without_anchors_nothing_is_verified_and_the_suggestion_is_not_taken(  # type: ignore[no-untyped-def]
    page_for, console_stack, cast, anchored
) -> None:
    page, _ = page_for(cast.regulator)
    sign_in(page, console_stack.url)
    page.locator("#alerts").wait_for()
    assert "Not set" in page.locator("#trust-missing").inner_text()
    assert "you have not set your trust anchors" in page.locator("#alerts").inner_text()
    assert page.locator("#checkpoints .badge-ok").count() == 0
    assert page.evaluate("localStorage.getItem('dx.trust.v1')") is None
    check_page(page, "trust-dashboard-unset")


def test_the_trust_page_refuses_anchors_the_chain_contradicts(  # type: ignore[no-untyped-def]
    page_for, console_stack, cast, anchored
) -> None:
    page, _ = page_for(cast.regulator)
    page.goto(f"{console_stack.url}/console/trust")
    page.get_by_role("heading", name="Trust anchors", level=1).wait_for()
    # Nothing is filled in until the user asks for the suggestion.
    assert page.get_by_label("Notary contract").input_value() == ""
    check_page(page, "trust-page-empty")
    page.get_by_role("button", name="Fill in the exchange's suggestion").click()
    page.wait_for_function("() => document.querySelector('#trust-chainId').value !== ''")
    assert page.get_by_label("Notary contract").input_value().lower() == anchored.lower()
    chain_id = page.get_by_label("Chain ID").input_value()
    assert chain_id == str(console_stack.w3.eth.chain_id)

    page.get_by_label("Chain ID").fill("1")
    page.get_by_role("button", name="Check and save").click()
    error = page.locator("#trust-error")
    error.get_by_text(f"serves chain {chain_id}, not chain 1").wait_for()
    page.get_by_label("Chain ID").fill(chain_id)
    page.get_by_label("Notary contract").fill(FORGED_NOTARY)
    page.get_by_role("button", name="Check and save").click()
    error.get_by_text(f"no contract is deployed at the Notary address {FORGED_NOTARY}").wait_for()
    page.get_by_label("Notary contract").fill("0x1234")
    page.get_by_role("button", name="Check and save").click()
    error.get_by_text("Notary contract: “0x1234” is not a 0x-prefixed 20-byte address").wait_for()
    assert page.evaluate("document.activeElement.id") == "trust-notary"
    assert page.evaluate("localStorage.getItem('dx.trust.v1')") is None
    check_page(page, "trust-page-refused")

    page.get_by_label("Notary contract").fill(anchored)
    page.get_by_role("button", name="Check and save").click()
    page.locator("#trust-status").get_by_text("Saved:").wait_for()
    page.reload()
    assert page.get_by_label("Notary contract").input_value() == anchored.lower()
