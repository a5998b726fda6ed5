"""Make sure the contracts are deployed on the stack's chain: deploy when the file or the code is missing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dx.components import require
from dx.errors import StackError
from dx_core.settings import get_settings

if TYPE_CHECKING:  # web3 and the contracts are slow to import: only for the type checker
    from web3 import Web3

    from contracts.deploy import Deployment


def web3_for(rpc_url: str) -> Web3:
    from web3 import Web3

    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))


def deployment_path() -> Path:
    return Path(get_settings().resolved_deployment_file)


def load_deployment() -> Deployment | None:
    """The saved Deployment, or None when there is no deployment file."""
    deploy_mod = require("contracts.deploy")
    path = deployment_path()
    return deploy_mod.Deployment.load(path) if path.exists() else None


def is_live(w3: Web3, deployment: Deployment) -> bool:
    """Whether `deployment` belongs to this chain, covers every contract the ledger has, and every
    address has code (a fresh chain has none)."""
    names = require("contracts.artifacts").available_contracts()
    if deployment.chain_id != w3.eth.chain_id or set(names) - set(deployment.addresses):
        return False
    return all(len(w3.eth.get_code(w3.to_checksum_address(a))) > 0 for a in deployment.addresses.values())


def ensure_deployed(rpc_url: str, operator: object) -> tuple[Deployment, bool]:
    """(deployment, deployed_now): reuse the saved deployment if it is live on the chain, else deploy."""
    deploy_mod = require("contracts.deploy")
    w3 = web3_for(rpc_url)
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
    deployment = deploy_mod.deploy(w3, operator)
    path = deployment_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    deployment.save(path)
    return deployment, True


def current_source_hash() -> str:
    """The source hash `contracts.deploy` records for this checkout's artifacts ("" if none)."""
    artifacts = require("contracts.artifacts")
    names = artifacts.available_contracts()
    return artifacts.load_artifact(names[0]).get("sourceHash", "") if names else ""


def grant_notarizer(rpc_url: str, deployment: Deployment, operator: object, notarizer_address: str) -> bool:
    """Give the anchorer's own account the Notary's notarizer role (once); True if granted now."""
    if "Notary" not in deployment.addresses:
        return False
    ledger = require("contracts").Ledger(web3_for(rpc_url), deployment)
    if ledger.notary.is_notarizer(notarizer_address):
        return False
    ledger.notary.grant_notarizer(operator, notarizer_address)
    return True
