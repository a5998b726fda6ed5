"""What the regulator reads from the chain with plain web3 calls: Notary checkpoints and ledger events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import event_abi_to_log_topic, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from contracts.artifacts import abi as artifact_abi

# The ComputeJobs events that must each have a log entry (and every entry citing one must match it).
# JobApproved is not among them: approvals are logged as approval.signature entries by the API.
JOB_EVENTS = frozenset(
    {
        "JobRequested",
        "JobDeclined",
        "JobAuthorized",
        "JobAttested",
        "JobCompleted",
        "JobDisputed",
        "DestructionAttested",
        "JobRefunded",
    }
)


@dataclass(frozen=True)
class ChainCheckpoint:
    index: int
    tree_size: int
    root: bytes
    timestamp: int
    block_number: int


@dataclass(frozen=True)
class ChainEvent:
    """A ledger event as the chain reports it; an entry references it by (tx_hash, log_index)."""

    event: str
    tx_hash: str
    log_index: int
    block_number: int
    args: dict[str, Any]


class ChainView:
    """Read-only view of one chain: the Notary at `notary_address` and, optionally, a jobs contract."""

    def __init__(self, rpc_url: str, notary_address: str, timeout: float = 30.0) -> None:
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self.notary_address = to_checksum_address(notary_address)
        self.notary = self.w3.eth.contract(address=self.notary_address, abi=artifact_abi("Notary"))

    def is_notarizer(self, address: str) -> bool:
        """Whether `address` holds the Notary's NOTARIZER_ROLE (may anchor checkpoints)."""
        role = self.notary.functions.NOTARIZER_ROLE().call()
        return bool(self.notary.functions.hasRole(role, to_checksum_address(address)).call())

    def checkpoints(self) -> list[ChainCheckpoint]:
        """Every checkpoint anchored on the Notary, in order."""
        count = int(self.notary.functions.checkpointCount().call())
        out = []
        for i in range(count):
            size, root, ts, block = self.notary.functions.checkpoint(i).call()
            out.append(ChainCheckpoint(i, int(size), bytes(root), int(ts), int(block)))
        return out

    def checkpoint(self, index: int) -> ChainCheckpoint | None:
        if index >= int(self.notary.functions.checkpointCount().call()):
            return None
        size, root, ts, block = self.notary.functions.checkpoint(index).call()
        return ChainCheckpoint(index, int(size), bytes(root), int(ts), int(block))

    def events(
        self,
        address: str,
        contract_name: str = "ComputeJobs",
        names: frozenset[str] | None = None,
        from_block: int = 0,
        chunk: int = 10_000,
    ) -> list[ChainEvent]:
        """Events of contract `contract_name` at `address` (those in `names`, default JOB_EVENTS), decoded."""
        names = JOB_EVENTS if names is None else names
        contract = self.w3.eth.contract(address=to_checksum_address(address), abi=artifact_abi(contract_name))
        by_topic = {
            event_abi_to_log_topic(e): e["name"]
            for e in contract.abi
            if e["type"] == "event" and e["name"] in names
        }
        out: list[ChainEvent] = []
        last = self.w3.eth.block_number
        for start in range(from_block, last + 1, chunk):
            logs = self.w3.eth.get_logs(
                {"fromBlock": start, "toBlock": min(start + chunk - 1, last), "address": contract.address}
            )
            for log in logs:
                name = by_topic.get(bytes(log["topics"][0])) if log["topics"] else None
                if name is None:
                    continue
                decoded = contract.events[name]().process_log(log)
                out.append(
                    ChainEvent(
                        name,
                        HexBytes(log["transactionHash"]).to_0x_hex(),
                        int(log["logIndex"]),
                        int(log["blockNumber"]),
                        dict(decoded["args"]),
                    )
                )
        return out

    def log_exists(self, tx_hash: str, log_index: int) -> bool:
        """Whether a successful transaction `tx_hash` emitted a log with block-level index `log_index`."""
        try:
            receipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except Exception:  # web3 raises TransactionNotFound (and others on malformed hashes)
            return False
        return receipt["status"] == 1 and any(int(lg["logIndex"]) == log_index for lg in receipt["logs"])
