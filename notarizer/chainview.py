"""What the regulator reads from the chain with plain web3 calls: Notary checkpoints and ledger events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from eth_utils import event_abi_to_log_topic, to_checksum_address
from hexbytes import HexBytes

from contracts import web3_at
from contracts.artifacts import abi as artifact_abi
from contracts.bindings.notary import CheckpointLogError, anchored_logs, check_root, one_per_index

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
        "JobRefused",
    }
)


@dataclass(frozen=True)
class ChainCheckpoint:
    index: int
    tree_size: int
    root: bytes
    timestamp: int
    block_number: int


# Integers from 2^53 up are logged as decimal strings: JSON readers lose precision beyond it.
_JSON_SAFE_INT = 2**53


def json_args(value: Any) -> Any:
    """Decoded event arguments in the form the exchange's indexer logs them (exchange_api.chain.jsonable
    of contracts.tx's plain decoding): bytes as 0x-hex, structs as objects, tuples as lists, integers
    from 2^53 up as decimal strings; addresses stay as web3 decodes them (checksummed)."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): json_args(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_args(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _JSON_SAFE_INT:
        return str(value)
    return value


@dataclass(frozen=True)
class ChainEvent:
    """A ledger event as the chain reports it; an entry references it by (tx_hash, log_index)."""

    event: str
    tx_hash: str
    log_index: int
    block_number: int
    args: dict[str, Any]
    contract: str = "ComputeJobs"

    def logged_args(self) -> dict[str, Any]:
        """The arguments as a log entry records them (see `json_args`), to compare with an entry's."""
        return json_args(self.args)


class ChainView:
    """Read-only view of one chain: the Notary at `notary_address` and, optionally, a jobs contract."""

    def __init__(self, rpc_url: str, notary_address: str, timeout: float = 30.0) -> None:
        self.w3 = web3_at(rpc_url, timeout=timeout)
        self.notary_address = to_checksum_address(notary_address)
        self.notary = self.w3.eth.contract(address=self.notary_address, abi=artifact_abi("Notary"))

    def is_notarizer(self, address: str) -> bool:
        """Whether `address` holds the Notary's NOTARIZER_ROLE (may anchor checkpoints)."""
        role = self.notary.functions.NOTARIZER_ROLE().call()
        return bool(self.notary.functions.hasRole(role, to_checksum_address(address)).call())

    def _latest(self) -> ChainCheckpoint | None:
        if int(self.notary.functions.checkpointCount().call()) == 0:
            return None
        index, (size, root, ts, block) = self.notary.functions.latest().call()
        return ChainCheckpoint(int(index), int(size), bytes(root), int(ts), int(block))

    def _deployment_block(self) -> int:
        return int(self.notary.functions.deploymentBlock().call())

    def checkpoints(self) -> list[ChainCheckpoint]:
        """Every checkpoint anchored on the Notary, in order: older ones from their CheckpointAnchored logs
        (the Notary keeps only their roots in storage), the newest as stored."""
        newest = self._latest()
        if newest is None:
            return []
        logs = one_per_index(anchored_logs(self.notary, self._deployment_block()), range(newest.index + 1))
        out = [ChainCheckpoint(**asdict(cp)) for cp in logs]
        if out[-1] != newest:
            raise CheckpointLogError(f"the newest checkpoint: log {out[-1]}, Notary storage {newest}")
        return out

    def checkpoint(self, index: int) -> ChainCheckpoint | None:
        """Checkpoint `index` (None if not anchored): the newest as stored, an older one from its log,
        whose root must be the one the Notary stores."""
        newest = self._latest()
        if newest is None or index > newest.index:
            return None
        if index == newest.index:
            return newest
        root = bytes(self.notary.functions.rootAt(index).call())
        found = anchored_logs(self.notary, self._deployment_block(), index)
        return ChainCheckpoint(**asdict(check_root(one_per_index(found, range(index, index + 1))[0], root)))

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
                event = contract.events[name]()
                decoded = event.process_log(log)
                # The ABI's argument order (web3 lists indexed arguments first), as the indexer keeps it.
                args = {i["name"]: decoded["args"][i["name"]] for i in event.abi["inputs"]}
                out.append(
                    ChainEvent(
                        name,
                        HexBytes(log["transactionHash"]).to_0x_hex(),
                        int(log["logIndex"]),
                        int(log["blockNumber"]),
                        args,
                        contract_name,
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
