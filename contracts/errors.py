"""Turn EVM revert data into `ContractRevert` naming the contract's custom error and its arguments."""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import collapse_if_tuple, function_signature_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes

from contracts.artifacts import abi, available_contracts

PANIC_REASONS = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialized function",
}


class LedgerError(Exception):
    """Base of every error the ledger bindings raise."""


class ContractRevert(LedgerError):
    """A contract call reverted. `contract` and `error_name` name the custom error; `args` its values."""

    def __init__(
        self, contract: str, error_name: str, args: dict[str, Any] | None = None, raw: bytes = b""
    ) -> None:
        self.contract = contract
        self.error_name = error_name
        self.args_dict = dict(args or {})
        self.raw = raw
        super().__init__(self._format())

    @property
    def args_map(self) -> dict[str, Any]:
        return self.args_dict

    def _format(self) -> str:
        parts = ", ".join(f"{k}={_fmt(v)}" for k, v in self.args_dict.items())
        return f"{self.contract}.{self.error_name}({parts})"


class TransactionFailed(LedgerError):
    """A transaction was mined with status 0 and its revert reason could not be recovered."""


def _fmt(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value if value.startswith("0x") else repr(value)
    return str(value)


def normalize(value: Any, item: dict[str, Any]) -> Any:
    """Give decoded ABI values friendly Python shapes: checksum addresses, dicts for tuples, bytes."""
    typ = item["type"]
    if typ.endswith("]"):
        inner = dict(item, type=typ[: typ.rindex("[")])
        return [normalize(v, inner) for v in value]
    if typ == "tuple":
        return {c["name"]: normalize(v, c) for c, v in zip(item["components"], value, strict=True)}
    if typ == "address":
        return to_checksum_address(value)
    if typ.startswith("bytes"):
        return bytes(value)
    return value


@cache
def _selectors() -> dict[bytes, list[tuple[str, dict[str, Any]]]]:
    table: dict[bytes, list[tuple[str, dict[str, Any]]]] = {}
    for name in available_contracts():
        for item in abi(name):
            if item["type"] != "error":
                continue
            signature = f"{item['name']}({','.join(collapse_if_tuple(i) for i in item['inputs'])})"
            table.setdefault(function_signature_to_4byte_selector(signature), []).append((name, item))
    return table


def decode_revert(data: bytes | str | None, contract_hint: str = "?") -> ContractRevert:
    """Decode revert data (custom error, Error(string) or Panic(uint256)) into a ContractRevert."""
    raw = bytes(HexBytes(data)) if data else b""
    if len(raw) < 4:
        return ContractRevert(contract_hint, "Reverted", {}, raw)
    selector, body = raw[:4], raw[4:]
    if selector == function_signature_to_4byte_selector("Error(string)"):
        (reason,) = abi_decode(["string"], body)
        return ContractRevert(contract_hint, "Error", {"reason": reason}, raw)
    if selector == function_signature_to_4byte_selector("Panic(uint256)"):
        (code,) = abi_decode(["uint256"], body)
        return ContractRevert(
            contract_hint, "Panic", {"code": code, "reason": PANIC_REASONS.get(code, "?")}, raw
        )
    candidates = _selectors().get(selector)
    if not candidates:
        return ContractRevert(contract_hint, "UnknownError", {"data": raw}, raw)
    # An error several contracts declare is attributed to the one called; otherwise it bubbled up
    # from the only contract that declares it (e.g. Market's UsageLimitReached during a job call).
    contract, item = next(((c, i) for c, i in candidates if c == contract_hint), candidates[0])
    values = abi_decode([collapse_if_tuple(i) for i in item["inputs"]], body)
    args = {
        i["name"] or f"arg{n}": normalize(v, i)
        for n, (i, v) in enumerate(zip(item["inputs"], values, strict=True))
    }
    return ContractRevert(contract, item["name"], args, raw)


def revert_data_from_exception(exc: BaseException) -> bytes | None:
    """Dig the revert data out of whatever web3.py raised for a failed call or estimate."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data") or data.get("result")
    if isinstance(data, str | bytes) and data:
        try:
            return bytes(HexBytes(data))
        except ValueError:
            return None
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, dict):
            inner = arg.get("data")
            if isinstance(inner, dict):
                inner = inner.get("data") or next(
                    (v.get("return") for v in inner.values() if isinstance(v, dict) and "return" in v), None
                )
            if isinstance(inner, str) and inner.startswith("0x"):
                return bytes(HexBytes(inner))
    return None
