"""Chain gateway: the ledger bindings, the relayer account, and raw-transaction checks (not yet wired)."""

from __future__ import annotations

from typing import Any

from dx_core.settings import Settings


def open_chain(settings: Settings, metrics: Any) -> Any:
    return None
