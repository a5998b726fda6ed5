"""The common part of every contract binding: encode calls, send writes, run reads, map reverts."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError

from contracts.artifacts import abi
from contracts.errors import ContractRevert
from contracts.tx import TxResult, TxSender


class ContractBinding:
    """One deployed contract: `send` for writes (signed locally), `read` for views, `build` for relays."""

    NAME = ""

    def __init__(self, w3: Web3, address: str, sender: TxSender) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.abi = abi(self.NAME)
        self.contract = w3.eth.contract(address=self.address, abi=self.abi)
        self._sender = sender

    def encode(self, fn_name: str, *args: Any) -> str:
        """ABI-encoded calldata of `fn_name(*args)`."""
        return self.contract.encode_abi(fn_name, args=list(args))

    def gas_floor(self, fn_name: str, args: tuple) -> int:
        """Least gas limit for a call whose cost depends on what other transactions land first."""
        return 0

    def build(self, fn_name: str, *args: Any, sender: str, value: int = 0, nonce: int | None = None) -> dict:
        """An unsigned transaction calling `fn_name(*args)` from `sender`, for signing elsewhere."""
        data = self.encode(fn_name, *args)
        return self._sender.build(
            sender, self.address, data, value, self.NAME, nonce, min_gas=self.gas_floor(fn_name, args)
        )

    def send(self, account: LocalAccount, fn_name: str, *args: Any, value: int = 0) -> TxResult:
        """Call any function by ABI name (for calls without a typed method): sign, send, wait, decode."""
        return self._send(account, fn_name, *args, value=value)

    def read(self, fn_name: str, *args: Any) -> Any:
        """Call any view by ABI name; a revert raises ContractRevert."""
        return self._read(fn_name, *args)

    def _send(self, account: LocalAccount, fn_name: str, *args: Any, value: int = 0) -> TxResult:
        data = self.encode(fn_name, *args)
        floor = self.gas_floor(fn_name, args)
        return self._sender.send(account, self.address, data, value, self.NAME, min_gas=floor)

    def _read(self, fn_name: str, *args: Any) -> Any:
        try:
            return getattr(self.contract.functions, fn_name)(*args).call()
        except (ContractLogicError, Web3RPCError, ValueError) as exc:
            raise self._sender.revert_error(exc, self.NAME) from None

    def _read_or_none(self, fn_name: str, *args: Any, missing: tuple[str, ...]) -> Any:
        """`_read`, or None when the view reverts with one of the `missing` errors: the contract's way of
        saying the record asked for does not exist. Any other revert is raised."""
        try:
            return self._read(fn_name, *args)
        except ContractRevert as exc:
            if exc.error_name in missing:
                return None
            raise
