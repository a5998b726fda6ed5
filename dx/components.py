"""Lazy access to the other components, with a plain "not yet available" error when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from dx.errors import NotAvailableError

# module -> (component owner, what it provides), for the "not yet available" message.
KNOWN = {
    "ganache.launcher": "the local chain launcher (ganache/launcher.py)",
    "contracts": "the contract bindings (contracts/)",
    "contracts.deploy": "the contract deployer (contracts/deploy.py)",
    "notarizer.anchorer": "the checkpoint anchorer (notarizer/anchorer.py)",
    "notarizer.verify": "the regulator's verifier (notarizer/verify.py)",
    "notarizer.verifier": "the regulator's verifier (notarizer/verifier.py)",
    "mpc_compute.input_client": "the input client (mpc_compute/input_client.py)",
    "mpc_compute.output_client": "the output client (mpc_compute/output_client.py)",
    "mpc_compute.node": "the compute node service (mpc_compute/node.py)",
    "exchange_api": "the exchange API service (exchange_api/)",
    "exchange_api.client": "the exchange client SDK (exchange_api/client.py)",
}


def available(module: str) -> bool:
    """Whether `module` imports in this checkout."""
    try:
        require(module)
    except NotAvailableError:
        return False
    return True


def require(module: str) -> ModuleType:
    """Import `module`, or raise NotAvailableError naming the component that has not landed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or module
        if not (module == missing or module.startswith(missing + ".") or missing.startswith(module)):
            raise  # a real bug inside a component that exists: show it
        what = KNOWN.get(module, module)
        raise NotAvailableError(
            f"{what} is not available in this checkout yet",
            hint="this part of the exchange is still being built; pull the latest commits",
        ) from None
