"""Make sure the contracts are deployed on the stack's chain: deploy when the file or the code is missing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dx.errors import StackError
from dx_core.settings import get_settings

# contracts is imported inside functions: it loads web3, which commands that never touch the chain
# should not wait for.
if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from contracts import Deployment


def deployment_path() -> Path:
    return Path(get_settings().resolved_deployment_file)


def load_deployment() -> Deployment | None:
    """The saved Deployment, or None when there is no deployment file."""
    from contracts import Deployment

    path = deployment_path()
    return Deployment.load(path) if path.exists() else None


def is_live(w3: Web3, deployment: Deployment) -> bool:
    """Whether `deployment` belongs to this chain, covers every contract the ledger has, and every
    address has code (a fresh chain has none)."""
    from contracts.artifacts import available_contracts

    if deployment.chain_id != w3.eth.chain_id or set(available_contracts()) - set(deployment.addresses):
        return False
    return all(len(w3.eth.get_code(w3.to_checksum_address(a))) > 0 for a in deployment.addresses.values())


def ensure_deployed(rpc_url: str, operator: LocalAccount) -> tuple[Deployment, bool]:
    """(deployment, deployed_now): reuse the saved deployment if it is live on the chain, else deploy."""
    from contracts import deploy, web3_at

    w3 = web3_at(rpc_url)
    existing = load_deployment()
    if existing is not None and is_live(w3, existing):
        current = current_source_hash()
        if existing.source_hash and current and existing.source_hash != current:
            # The chain, database and blobs here belong to contracts built from other sources.
            raise StackError(
                f"the contracts deployed for {get_settings().data_dir} were built from other sources "
                f"({existing.source_hash[:12]}…, this checkout has {current[:12]}…)",
                hint="use a fresh --data-dir (or delete this one) to deploy the current contracts")
        return existing, False
    deployment = deploy(w3, operator)
    path = deployment_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    deployment.save(path)
    return deployment, True


def current_source_hash() -> str:
    """The source hash `contracts.deploy` records for this checkout's artifacts ("" if none)."""
    from contracts.artifacts import available_contracts, load_artifact

    names = available_contracts()
    return load_artifact(names[0]).get("sourceHash", "") if names else ""


def grant_notarizer(rpc_url: str, deployment: Deployment, operator: LocalAccount,
                    notarizer_address: str) -> bool:
    """Give the anchorer's own account the Notary's notarizer role (once); True if granted now."""
    from contracts import connect

    if "Notary" not in deployment.addresses:
        return False
    ledger = connect(rpc_url, deployment)
    if ledger.notary.is_notarizer(notarizer_address):
        return False
    ledger.notary.grant_notarizer(operator, notarizer_address)
    return True
