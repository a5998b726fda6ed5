"""Browser: the operator suspends and reinstates a member on the members page (the Registry's record, signed
in the wallet); a non-operator is offered no button, and a forced call is refused by the contract in words."""

from __future__ import annotations

import os

import pytest
from eth_account import Account

from dx_core.roles import Role
from tests.browser.conftest import check_page

pytestmark = [pytest.mark.browser, pytest.mark.chain, pytest.mark.api]


@pytest.fixture
def newcomer(console_stack):  # type: ignore[no-untyped-def]
    """A member admitted for this test alone (a data provider and buyer)."""
    account = Account.create()
    console_stack.ledger.registry.admit(console_stack.operator, account.address, Role.PROVIDER | Role.BUYER,
                                        os.urandom(32), "")
    return account


def sign_in(page, url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/console/members")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("#signed-in-as").wait_for()
    page.locator("#operator-note").wait_for()


def test_operator_suspends_then_reinstates_a_member(page_for, console_stack, newcomer) -> None:  # type: ignore[no-untyped-def]
    registry, address = console_stack.ledger.registry, newcomer.address
    page, wallet = page_for(console_stack.operator)
    sign_in(page, console_stack.url)
    row = page.locator(f'#members tr[data-member="{address.lower()}"]')
    row.wait_for()
    assert "data provider, buyer" in row.inner_text() and row.get_attribute("data-suspended") == "false"
    assert "You are the operator" in page.locator("#operator-note").inner_text()
    assert "dx account rotate-key" in page.locator("#rotate-note").inner_text()
    check_page(page, "members-operator")

    row.get_by_role("button", name=f"Suspend {address}").click()
    page.locator(f'#members tr[data-member="{address.lower()}"][data-suspended="true"]').wait_for()
    assert registry.member(address).suspended is True
    assert not registry.is_active(address, Role.BUYER)
    assert f"Suspended {address} in transaction" in page.locator("#notice").inner_text()
    check_page(page, "members-suspended")

    row.get_by_role("button", name=f"Reinstate {address}").click()
    page.locator(f'#members tr[data-member="{address.lower()}"][data-suspended="false"]').wait_for()
    assert registry.member(address).suspended is False
    assert registry.is_active(address, Role.BUYER)
    assert [m for m in wallet.methods() if m == "eth_sendTransaction"] == ["eth_sendTransaction"] * 2


def test_a_non_operator_cannot_suspend(page_for, console_stack, cast, newcomer) -> None:  # type: ignore[no-untyped-def]
    registry, address = console_stack.ledger.registry, newcomer.address
    page, _ = page_for(cast.buyer)
    sign_in(page, console_stack.url)
    page.locator(f'#members tr[data-member="{address.lower()}"]').wait_for()
    assert "You are not the operator" in page.locator("#operator-note").inner_text()
    assert page.get_by_role("button", name="Suspend").count() == 0
    check_page(page, "members-reader")
    # The attacker's page offers the button anyway: the Registry refuses, and the page says so in words.
    page.evaluate("""async (address) => {
      const m = await import('/console/static/pages/members.js');
      document.querySelector('main').append(m.memberAction(address, false));
    }""", address)
    page.get_by_role("button", name=f"Suspend {address}").click()
    alert = page.locator(".tx-outcome [role=alert]")
    alert.wait_for()
    said = alert.inner_text()
    assert "AccessControlUnauthorizedAccount" in said and "is not the exchange's operator" in said
    assert registry.member(address).suspended is False


def test_members_page_without_sign_in_lists_members_read_only(page_for, console_stack, newcomer) -> None:  # type: ignore[no-untyped-def]
    page, _ = page_for(None)
    page.goto(f"{console_stack.url}/console/members")
    page.locator(f'#members tr[data-member="{newcomer.address.lower()}"]').wait_for()
    assert "Sign in with the operator's wallet" in page.locator("#operator-note").inner_text()
    assert page.locator("#members button").count() == 0
    check_page(page, "members-anonymous")
