"""What each role command does: thin calls into the contracts, the exchange client and the compute clients."""

from __future__ import annotations

import importlib
from typing import Any

# Each name loads its module on first use (PEP 562): `from dx.actions.buyer import ...` or `dx.actions.X`
# then pays only for that module's imports, not for every role's (numpy, web3, the compute clients).
_HOME = {
    "audit_export": "audit", "audit_trail": "audit", "audit_usage": "audit", "audit_verify": "audit",
    "fetch_result": "buyer", "job_status": "buyer", "request_job": "buyer", "search_catalog": "buyer",
    "watch_job": "buyer",
    "admit_member": "operator", "list_members": "operator", "register_cluster": "operator",
    "show_cluster": "operator",
    "decide": "sellers", "delist_dataset": "sellers", "list_algorithms": "sellers",
    "list_datasets": "sellers", "pending_requests": "sellers", "publish_algorithm": "sellers",
    "publish_dataset": "sellers",
    "show_dataset": "sellers",
    "bring_up": "stack",
    "jobs_table": "tables", "listing_table": "tables", "trail_table": "tables",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
