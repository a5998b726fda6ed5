"""Browser: the public catalog and Sign-In with Ethereum against the running API (real chain, real server)."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import Session

from exchange_api.catalog.store import upsert_listing
from tests.browser.conftest import check_page

pytestmark = [pytest.mark.browser, pytest.mark.chain, pytest.mark.api]

CREDIT = {"title": "Retail credit bureau 2025",
          "description": "Loan repayment history of 2M retail borrowers.",
          "tags": ["credit", "finance"], "columns": [{"name": "borrower_id", "dtype": "int64"},
                                                     {"name": "overdue_days", "dtype": "int32"}],
          "policy": {"min_cohort": 50, "allowed_algorithms": [1]}}
TELECOM = {"title": "Mobile tower dwell times", "description": "Hourly dwell counts per tower.",
           "tags": ["telecom"], "columns": [{"name": "tower", "dtype": "int64"}]}
SCORE = {"title": "Credit score (logistic)", "description": "Secret-shared logistic regression scorer.",
         "tags": ["credit", "model"]}


@pytest.fixture(scope="module")
def seeded_catalog(console_stack, dev_accounts):  # type: ignore[no-untyped-def]
    seller = dev_accounts[1].address
    with Session(console_stack.engine) as s:
        upsert_listing(s, "dataset", 9001, metadata=CREDIT, owner=seller, metadata_cid="bafkreicredit",
                       manifest_hash="0x" + "ab" * 32, price_wei=2 * 10**15, max_uses=10, uses=9,
                       created_block=1)
        upsert_listing(s, "dataset", 9002, metadata=TELECOM, owner=seller, metadata_cid="bafkreitelecom",
                       manifest_hash="0x" + "cd" * 32, price_wei=10**15, max_uses=0, uses=0, created_block=1)
        upsert_listing(s, "algorithm", 9003, metadata=SCORE, owner=dev_accounts[2].address,
                       metadata_cid="bafkreiscore", manifest_hash="0x" + "ef" * 32, price_wei=0, max_uses=0,
                       created_block=1)
        s.commit()
    return {"seller": seller}


def test_catalog_search_filter_and_listing_page(page_for, console_stack, seeded_catalog) -> None:  # type: ignore[no-untyped-def]
    page, _ = page_for()
    page.goto(f"{console_stack.url}/console/")
    page.get_by_role("heading", name="Catalog", level=1).wait_for()
    page.locator('[data-listing="dataset:9001"]').wait_for()
    assert page.locator('[data-listing="dataset:9002"]').count() == 1
    assert page.locator('[data-listing="algorithm:9003"]').count() == 1
    assert "9 of 10 uses" in page.locator('[data-listing="dataset:9001"]').inner_text()
    check_page(page, "catalog")

    page.get_by_role("searchbox", name="Search").fill("credit")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("heading", name="Datasets (1)").wait_for()
    assert page.locator('[data-listing="dataset:9001"]').count() == 1
    assert page.locator('[data-listing="dataset:9002"]').count() == 0
    assert page.locator('[data-listing="algorithm:9003"]').count() == 1

    page.get_by_role("searchbox", name="Search").fill("no-such-listing-anywhere")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_text("No datasets match these filters.").wait_for()

    page.get_by_role("searchbox", name="Search").fill("")
    page.get_by_label("Tag").fill("telecom")
    page.get_by_label("Show").select_option("datasets")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("heading", name="Datasets (1)").wait_for()
    assert page.locator('[data-listing="dataset:9001"]').count() == 0
    assert page.get_by_role("heading", name="Algorithms (1)").count() == 0
    page.get_by_role("link", name="Mobile tower dwell times").click()
    page.get_by_role("heading", name="Mobile tower dwell times", level=1).wait_for()
    assert page.url.endswith("/console/datasets/9002")

    page.goto(f"{console_stack.url}/console/datasets/9001")
    page.get_by_role("heading", name="Retail credit bureau 2025", level=1).wait_for()
    page.locator("#onchain dl").wait_for()
    # Seeded straight into the database, this listing has no listing event on-chain: the page says so.
    assert "no dataset #9001 listing event in block 1" in page.locator("#onchain").inner_text()
    text = page.locator("main").inner_text()
    for expected in ("borrower_id", "overdue_days", "0.002 ETH", "9 of 10 uses", "min cohort",
                     "On-chain record", "bafkreicredit"):
        assert expected in text, f"{expected!r} missing from the listing page"
    check_page(page, "listing")
    assert page.js_errors == []


def test_catalog_on_a_narrow_screen_and_missing_listing(page_for, console_stack, seeded_catalog) -> None:  # type: ignore[no-untyped-def]
    page, _ = page_for(width=360, height=740)
    page.goto(f"{console_stack.url}/console/")
    page.locator('[data-listing="dataset:9001"]').wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the catalog overflows a 360 px screen ({width} px wide)"
    check_page(page, "catalog-narrow")
    page.goto(f"{console_stack.url}/console/datasets/424242")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "no dataset listing with id 424242" in alert.inner_text()


def test_sign_in_with_ethereum(page_for, console_stack, dev_accounts) -> None:  # type: ignore[no-untyped-def]
    account = dev_accounts[5]
    page, wallet = page_for(account)
    page.goto(f"{console_stack.url}/console/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("#signed-in-as").wait_for()
    assert wallet.methods()[:2] == ["eth_requestAccounts", "personal_sign"]
    message = bytes.fromhex(wallet.calls[1][1][0][2:]).decode()
    assert message.startswith(f"127.0.0.1:{console_stack.url.rsplit(':', 1)[1]} wants you to sign in")
    assert account.address in message and "Nonce: " in message
    token = page.evaluate("sessionStorage.getItem('dx.token')")
    me = httpx.get(f"{console_stack.url}/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["address"] == account.address
    check_page(page, "signed-in")

    # Signed in but not a regulator: the audit view shows the API's refusal, not an empty dashboard.
    page.goto(f"{console_stack.url}/console/audit")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert f"{account.address} is not a regulator" in alert.inner_text()
    check_page(page, "audit-forbidden")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in with Ethereum").wait_for()
    assert page.evaluate("sessionStorage.getItem('dx.token')") is None

    # Switching accounts in the wallet signs the page out instead of acting for the wrong member.
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("#signed-in-as").wait_for()
    other = dev_accounts[7].address
    page.evaluate("(a) => window.__dxWalletEmit('accountsChanged', [a])", other)
    page.get_by_role("button", name="Sign in with Ethereum").wait_for()
    assert other in page.locator("#notice").inner_text()
    assert page.evaluate("sessionStorage.getItem('dx.token')") is None


def test_keyboard_skip_link_sign_in_prompts_and_unknown_pages(page_for, console_stack) -> None:  # type: ignore[no-untyped-def]
    page, _ = page_for()
    page.goto(f"{console_stack.url}/console/")
    page.get_by_role("heading", name="Catalog", level=1).wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    for path, title in (("seller", "Seller"), ("jobs", "My jobs"), ("audit", "Regulator dashboard"),
                        ("jobs/5", "Job 5")):
        page.goto(f"{console_stack.url}/console/{path}")
        page.get_by_role("heading", name=title, level=1).wait_for()
        assert "Sign in with Ethereum" in page.get_by_role("note").inner_text()
        check_page(page, f"signed-out-{path.replace('/', '-')}")
    page.goto(f"{console_stack.url}/console/no/such/page")
    page.get_by_role("heading", name="Page not found", level=1).wait_for()
    assert page.get_by_role("link", name="Back to the catalog").count() == 1
    assert page.js_errors == []


def test_catalog_pages_and_sorts(page_for, console_stack, dev_accounts) -> None:  # type: ignore[no-untyped-def]
    with Session(console_stack.engine) as s:
        for n in range(30):
            meta = {"title": f"Bulk sample {n:02d}", "tags": ["bulk"]}
            upsert_listing(s, "dataset", 9200 + n, metadata=meta, owner=dev_accounts[4].address,
                           metadata_cid=f"bafkreibulk{n}",
                           price_wei=(n * 7919) % 31 * 10**14, created_block=100 + n)
        s.commit()
    page, _ = page_for()
    page.goto(f"{console_stack.url}/console/?tag=bulk&kind=datasets&sort=price_asc")
    page.get_by_role("heading", name="Datasets (30)").wait_for()
    cards = page.locator('[data-listing^="dataset:92"]')
    assert cards.count() == 24
    prices = [float(t.split(" ETH")[0]) for t in cards.locator("p strong").all_inner_texts()]
    assert prices == sorted(prices) and prices[0] == 0
    page.get_by_role("button", name="Show more datasets").click()
    page.locator('[data-listing="dataset:9200"]').or_(cards.nth(29)).first.wait_for()
    cards.nth(29).wait_for()
    assert cards.count() == 30
    assert page.get_by_role("button", name="Show more datasets").count() == 0
    assert page.get_by_label("Sort by").input_value() == "price_asc"
    check_page(page, "catalog-sorted")
