"""Browser helper: a user sets the console's trust anchors on the Trust anchors page, as a regulator would."""

from __future__ import annotations

from typing import Any


def set_trust_anchors(page: Any, base_url: str, **values: str) -> None:
    """Open /console/trust, take the exchange's suggestion explicitly (overridden by `values`), and save.

    `values` keys are the form's field names: rpcUrl, chainId, notary, computeJobs.
    """
    page.goto(f"{base_url}/console/trust")
    page.get_by_role("button", name="Fill in the exchange's suggestion").click()
    chain_id = page.get_by_label("Chain ID")
    page.wait_for_function("() => document.querySelector('#trust-chainId').value !== ''")
    for key, value in values.items():
        page.locator(f"#trust-{key}").fill(value)
    assert chain_id.input_value()
    page.get_by_role("button", name="Check and save").click()
    page.locator("#trust-status").get_by_text("Saved:").wait_for()
