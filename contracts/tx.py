"""Sign, send and confirm transactions; decode their logs into `DecodedEvent`s; map reverts to errors."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractEvent
from web3.exceptions import ContractLogicError, Web3RPCError

from contracts.errors import ContractRevert, TransactionFailed, decode_revert, revert_data_from_exception

GAS_MARGIN = 1.25
# One lock per sender address for the whole process: two Ledger objects (say the API and the anchorer
# in one process) sending for the same account must not pick the same nonce.
_SENDER_LOCKS: dict[str, threading.Lock] = {}
_SENDER_LOCKS_GUARD = threading.Lock()
PRIORITY_FEE_WEI = 1_000_000_000


@dataclass(frozen=True)
class DecodedEvent:
    """One log of one of the ledger's contracts, decoded with its ABI."""

    contract: str
    event: str
    args: dict[str, Any]
    tx_hash: str
    block_number: int
    block_hash: str
    log_index: int
    address: str


@dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction and the ledger events it emitted."""

    tx_hash: str
    block_number: int
    gas_used: int
    events: list[DecodedEvent] = field(default_factory=list)

    def event(self, name: str) -> DecodedEvent:
        """The first event called `name` (KeyError naming the events present if there is none)."""
        for ev in self.events:
            if ev.event == name:
                return ev
        raise KeyError(f"no {name} event in tx {self.tx_hash}; events: {[e.event for e in self.events]}")


class EventDecoder:
    """Decodes logs of known contract addresses with web3's `process_log` against their ABIs."""

    def __init__(self, w3: Web3, contracts: dict[str, tuple[str, list[dict[str, Any]]]]) -> None:
        # contracts: address -> (contract name, abi); per address, event topic -> the web3 event to decode
        self._by_address: dict[str, tuple[str, dict[bytes, ContractEvent]]] = {}
        for address, (name, contract_abi) in contracts.items():
            contract = w3.eth.contract(address=to_checksum_address(address), abi=contract_abi)
            topics = {
                event_abi_to_log_topic(e): contract.events[e["name"]]()
                for e in contract_abi
                if e["type"] == "event"
            }
            self._by_address[to_checksum_address(address)] = (name, topics)

    @property
    def addresses(self) -> list[str]:
        return list(self._by_address)

    def decode(self, log: Any) -> DecodedEvent | None:
        """The decoded event, or None for a log of an unknown address or event."""
        address = to_checksum_address(log["address"])
        known = self._by_address.get(address)
        if known is None or not log["topics"]:
            return None
        name, topics = known
        event = topics.get(bytes(log["topics"][0]))
        if event is None:
            return None
        decoded = event.process_log(log)
        # web3 lists indexed arguments first; keep the ABI's order, as plain dicts and lists.
        args = {i["name"]: _plain(decoded["args"][i["name"]]) for i in event.abi["inputs"]}
        return DecodedEvent(
            contract=name,
            event=event.abi["name"],
            args=args,
            tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
            block_number=int(log["blockNumber"]),
            block_hash=HexBytes(log["blockHash"]).to_0x_hex(),
            log_index=int(log["logIndex"]),
            address=address,
        )


def _plain(value: Any) -> Any:
    """web3's AttributeDicts and tuples as plain dicts and lists (bytes stay bytes)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, HexBytes):
        return bytes(value)
    return value


class TxSender:
    """Builds, signs locally and sends transactions, one at a time per sender within this process."""

    def __init__(self, w3: Web3, decoder: EventDecoder | None = None) -> None:
        self.w3 = w3
        self.decoder = decoder
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    @staticmethod
    def _lock(address: str) -> threading.Lock:
        with _SENDER_LOCKS_GUARD:
            return _SENDER_LOCKS.setdefault(address, threading.Lock())

    def fees(self) -> dict[str, int]:
        """EIP-1559 fee fields generous enough for the next few blocks."""
        base = self.w3.eth.get_block("latest").get("baseFeePerGas") or 0
        return {"maxFeePerGas": 2 * int(base) + PRIORITY_FEE_WEI, "maxPriorityFeePerGas": PRIORITY_FEE_WEI}

    def build(
        self,
        sender: str,
        to: str | None,
        data: bytes | str,
        value: int = 0,
        contract_hint: str = "?",
        nonce: int | None = None,
        min_gas: int = 0,
    ) -> dict[str, Any]:
        """An unsigned EIP-1559 transaction dict (gas estimated; a revert raises ContractRevert).

        `min_gas` is a floor for calls whose cost depends on what lands first (see JobsBinding).
        """
        sender = to_checksum_address(sender)
        tx: dict[str, Any] = {
            "from": sender,
            "data": HexBytes(data).to_0x_hex(),
            "value": value,
            "chainId": self.chain_id,
        }
        if to is not None:
            tx["to"] = to_checksum_address(to)
        try:
            estimate = self.w3.eth.estimate_gas(tx)
        except (ContractLogicError, Web3RPCError, ValueError) as exc:
            raise self.revert_error(exc, contract_hint) from None
        tx["gas"] = max(int(estimate * GAS_MARGIN) + 10_000, min_gas)
        tx["nonce"] = self.w3.eth.get_transaction_count(sender, "pending") if nonce is None else nonce
        tx.update(self.fees())
        return tx

    def send(
        self,
        account: LocalAccount,
        to: str | None,
        data: bytes | str,
        value: int = 0,
        contract_hint: str = "?",
        min_gas: int = 0,
    ) -> TxResult:
        """Build, sign with `account`, send, wait for the receipt and decode its events."""
        with self._lock(account.address):
            tx = self.build(account.address, to, data, value, contract_hint, min_gas=min_gas)
            signed = account.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.wait(tx_hash, contract_hint)

    def send_raw(self, raw_tx: bytes | str, contract_hint: str = "?") -> TxResult:
        """Relay a transaction someone signed elsewhere, wait for it and decode its events."""
        try:
            tx_hash = self.w3.eth.send_raw_transaction(HexBytes(raw_tx))
        except (ContractLogicError, Web3RPCError, ValueError) as exc:
            raise self.revert_error(exc, contract_hint) from None
        return self.wait(tx_hash, contract_hint)

    def wait(self, tx_hash: bytes | str, contract_hint: str = "?", timeout: float = 120) -> TxResult:
        receipt = self.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=timeout)
        if receipt["status"] != 1:
            raise self._replay_failure(receipt, contract_hint)
        events = []
        if self.decoder is not None:
            events = [e for e in (self.decoder.decode(log) for log in receipt["logs"]) if e is not None]
        return TxResult(
            tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            events=events,
        )

    def call(self, to: str, data: bytes | str, contract_hint: str = "?", sender: str | None = None) -> bytes:
        """eth_call returning the raw output, or raising ContractRevert."""
        tx: dict[str, Any] = {"to": to_checksum_address(to), "data": HexBytes(data).to_0x_hex()}
        if sender:
            tx["from"] = to_checksum_address(sender)
        try:
            return bytes(self.w3.eth.call(tx))
        except (ContractLogicError, Web3RPCError, ValueError) as exc:
            raise self.revert_error(exc, contract_hint) from None

    def revert_error(self, exc: BaseException, contract_hint: str) -> Exception:
        """The error to raise for a failed call or estimate: the decoded ContractRevert when the node gave
        revert data, else a plain revert, else `exc` itself."""
        data = revert_data_from_exception(exc)
        if data is not None:
            return decode_revert(data, contract_hint)
        if isinstance(exc, ContractLogicError):
            return ContractRevert(contract_hint, "Reverted", {"message": str(exc)})
        return exc if isinstance(exc, Exception) else RuntimeError(str(exc))

    def _replay_failure(self, receipt: Any, contract_hint: str) -> Exception:
        tx = self.w3.eth.get_transaction(receipt["transactionHash"])
        call = {
            "from": tx["from"],
            "to": tx["to"],
            "data": HexBytes(tx["input"]).to_0x_hex(),
            "value": tx["value"],
            "gas": tx["gas"],
        }
        try:
            self.w3.eth.call(call, receipt["blockNumber"] - 1)
        except (ContractLogicError, Web3RPCError, ValueError) as exc:
            err = self.revert_error(exc, contract_hint)
            if isinstance(err, ContractRevert):
                return err
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        if int(receipt["gasUsed"]) >= int(tx["gas"]) * 0.98:
            return TransactionFailed(
                f"transaction {tx_hash} to {contract_hint} ran out of gas (limit {tx['gas']}, used "
                f"{receipt['gasUsed']}): its estimate was too low for the state it landed in"
            )
        return TransactionFailed(
            f"transaction {tx_hash} to {contract_hint} failed (status 0, gas used {receipt['gasUsed']}) "
            "and replaying it did not reproduce a revert reason"
        )
