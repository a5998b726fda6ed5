"""Deploy and wire the four ledger contracts; save and load the resulting `Deployment` file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3

from contracts.artifacts import available_contracts, load_artifact
from contracts.tx import TxSender


class DeploymentError(RuntimeError):
    """A deployment file is missing, malformed, or for another chain."""


@dataclass(frozen=True)
class Deployment:
    """Where the ledger lives: chain id, contract addresses and the blocks they were deployed in."""

    chain_id: int
    addresses: dict[str, str]
    blocks: dict[str, int]
    deployer: str = ""
    source_hash: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def first_block(self) -> int:
        return min(self.blocks.values()) if self.blocks else 0

    def to_json(self) -> dict:
        return {
            "chain_id": self.chain_id,
            "addresses": self.addresses,
            "blocks": self.blocks,
            "deployer": self.deployer,
            "source_hash": self.source_hash,
            "extra": self.extra,
        }

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> Deployment:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            return cls(
                chain_id=int(data["chain_id"]),
                addresses={k: to_checksum_address(v) for k, v in data["addresses"].items()},
                blocks={k: int(v) for k, v in data["blocks"].items()},
                deployer=data.get("deployer", ""),
                source_hash=data.get("source_hash", ""),
                extra=dict(data.get("extra", {})),
            )
        except FileNotFoundError:
            raise DeploymentError(f"no deployment file at {path}; run scripts/deploy.py") from None
        except (KeyError, ValueError, TypeError) as exc:
            raise DeploymentError(f"deployment file {path} is malformed: {exc}") from None

    def check_chain(self, w3: Web3) -> None:
        """Raise DeploymentError unless `w3` is connected to this deployment's chain with its code."""
        chain_id = w3.eth.chain_id
        if chain_id != self.chain_id:
            raise DeploymentError(
                f"deployment is for chain {self.chain_id}, the node reports chain {chain_id}"
            )
        for name, address in self.addresses.items():
            if len(w3.eth.get_code(address)) == 0:
                raise DeploymentError(f"no code for {name} at {address} on chain {chain_id}")


def _deploy_one(
    w3: Web3, sender: TxSender, operator: LocalAccount, name: str, *args: object
) -> tuple[str, int]:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    data = factory.constructor(*args).data_in_transaction
    result = sender.send(operator, None, data, 0, name)
    receipt = w3.eth.get_transaction_receipt(result.tx_hash)
    return to_checksum_address(receipt["contractAddress"]), result.block_number


def deploy(w3: Web3, operator: LocalAccount) -> Deployment:
    """Deploy Registry, Market, ComputeJobs and Notary with `operator` as admin, and wire them together.

    Market learns ComputeJobs' address (the only caller allowed to count uses), ComputeJobs takes
    Registry and Market in its constructor, and the operator gets Notary's notarizer role.
    """
    sender = TxSender(w3)
    names = available_contracts()
    addresses: dict[str, str] = {}
    blocks: dict[str, int] = {}
    constructor_args: dict[str, tuple] = {
        "Registry": (operator.address,),
        "Notary": (operator.address,),
    }
    for name in names:
        if name == "Market":
            args: tuple = (operator.address, addresses["Registry"])
        elif name == "ComputeJobs":
            args = (addresses["Registry"], addresses["Market"])
        else:
            args = constructor_args[name]
        addresses[name], blocks[name] = _deploy_one(w3, sender, operator, name, *args)

    if "Market" in addresses and "ComputeJobs" in addresses:
        market = w3.eth.contract(address=addresses["Market"], abi=load_artifact("Market")["abi"])
        sender.send(
            operator,
            addresses["Market"],
            market.encode_abi("setComputeJobs", args=[addresses["ComputeJobs"]]),
            0,
            "Market",
        )
    if "Notary" in addresses:
        notary = w3.eth.contract(address=addresses["Notary"], abi=load_artifact("Notary")["abi"])
        role = notary.functions.NOTARIZER_ROLE().call()
        grant = notary.encode_abi("grantRole", args=[role, operator.address])
        sender.send(operator, addresses["Notary"], grant, 0, "Notary")
    source_hash = load_artifact(names[0])["sourceHash"] if names else ""
    return Deployment(
        chain_id=w3.eth.chain_id,
        addresses=addresses,
        blocks=blocks,
        deployer=operator.address,
        source_hash=source_hash,
    )
