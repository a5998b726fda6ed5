"""Chain gateway: the Ledger bindings, the operator's relayer account, and checks on client-signed txs."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import Web3Exception

from dx_core.settings import Settings
from exchange_api.errors import BadRequest, ChainUnavailable, ContractRejected, Forbidden, Unprocessable

log = logging.getLogger("exchange_api.chain")


@dataclass(frozen=True)
class RawTx:
    """What the API learns from a signed transaction before relaying it."""

    raw: bytes
    tx_hash: str
    sender: str
    to: str
    contract: str
    function: str
    nonce: int
    chain_id: int


def load_relayer(value: str | None) -> LocalAccount | None:
    """The relayer account from settings: a 0x-hex key, or a dx keystore file (password from env)."""
    if not value:
        return None
    if value.startswith("0x") and len(value) == 66:
        return Account.from_key(value)
    from dx_core import keystore

    path = Path(value)
    doc = json.loads(path.read_text())
    return keystore.decrypt(doc, keystore.password_from_env()).account


def revert_problem(exc: Any, what: str) -> ContractRejected:
    """A problem naming the contract's custom error, for a ContractRevert from the ledger."""
    args = {k: ("0x" + v.hex() if isinstance(v, bytes | bytearray) else v) for k, v in exc.args_dict.items()}
    args = {k: (str(v) if isinstance(v, int) and abs(v) >= 2**53 else v) for k, v in args.items()}
    return ContractRejected(
        f"{what} reverted: {exc}",
        extra={"contract_error": {"contract": exc.contract, "name": exc.error_name, "args": args}},
    )


class ChainGateway:
    """The API's view of the ledger. Writes here are relays; nothing is recorded as done until mined."""

    def __init__(
        self, w3: Web3, deployment: Any, relayer: LocalAccount | None = None, lock_dir: Path | None = None
    ) -> None:
        from contracts import Ledger

        self.w3 = w3
        self.deployment = deployment
        self.ledger = Ledger(w3, deployment)
        self.relayer = relayer
        self.chain_id = int(deployment.chain_id)
        self.first_block = int(deployment.first_block)
        self._by_address = {to_checksum_address(a): name for name, a in deployment.addresses.items()}
        self._selectors: dict[str, dict[bytes, str]] = {}
        self._relay_lock = threading.Lock()
        # uvicorn workers are processes: the relayer's nonces must be taken one tx at a time across them.
        self._relay_lock_path = (lock_dir or Path(".")) / "relayer.lock"

    # -- reads -----------------------------------------------------------------------------------------

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def block_hash(self, number: int) -> str | None:
        try:
            block = self.w3.eth.get_block(number)
        except Exception:
            return None
        return HexBytes(block["hash"]).to_0x_hex() if block else None

    def member_roles(self, address: str) -> int:
        """Roles from the Registry (0 for a stranger or a suspended member)."""
        try:
            member = self.ledger.registry.member(address)
        except Exception as exc:
            log.warning("role lookup for %s failed: %s", address, exc)
            return 0
        if member is None or getattr(member, "suspended", False):
            return 0
        return int(member.roles)

    # -- raw transactions ------------------------------------------------------------------------------

    def _function_name(self, contract: str, data: bytes) -> str:
        if contract not in self._selectors:
            from contracts.artifacts import abi

            table: dict[bytes, str] = {}
            for item in abi(contract):
                if item["type"] == "function":
                    sig = f"{item['name']}({','.join(_type_str(i) for i in item['inputs'])})"
                    table[keccak(text=sig)[:4]] = item["name"]
            self._selectors[contract] = table
        return self._selectors[contract].get(bytes(data[:4]), "unknown")

    def decode_raw(self, raw_hex: str) -> RawTx:
        """Parse and check a signed transaction: typed (EIP-1559), this chain, one of our contracts."""
        try:
            raw = bytes(HexBytes(raw_hex))
        except ValueError:
            raise BadRequest("raw_tx is not hex") from None
        if not raw or raw[0] >= 0x7F:
            raise BadRequest("only typed (EIP-2718, e.g. EIP-1559) transactions are relayed")
        try:
            tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            sender = Account.recover_transaction(raw)
        except Exception as exc:
            raise BadRequest(f"raw_tx is not a valid signed transaction: {exc}") from None
        if int(tx.get("chainId", -1)) != self.chain_id:
            raise BadRequest(
                f"transaction is for chain id {tx.get('chainId')}; the ledger runs on {self.chain_id}"
            )
        to = tx.get("to")
        if not to:
            raise BadRequest("contract creations are not relayed")
        to = to_checksum_address(bytes(to))
        contract = self._by_address.get(to)
        if contract is None:
            raise BadRequest(f"transaction goes to {to}, which is not one of the ledger's contracts")
        if int(tx.get("value", 0)) and contract != "ComputeJobs":
            raise BadRequest("only job requests may carry value")
        function = self._function_name(contract, bytes(tx.get("data", b"")))
        return RawTx(
            raw, "0x" + keccak(raw).hex(), sender, to, contract, function, int(tx["nonce"]), self.chain_id
        )

    def check_sender(self, tx: RawTx, member: str, allowed: set[str] | None = None) -> None:
        if tx.sender != to_checksum_address(member):
            raise Forbidden(f"transaction is signed by {tx.sender}, not by the signed-in member {member}")
        if allowed is not None and tx.function not in allowed:
            raise BadRequest(
                f"{tx.contract}.{tx.function} cannot be relayed here; allowed: {', '.join(sorted(allowed))}"
            )

    def send_raw(self, tx: RawTx) -> Any:
        """Relay and wait for the receipt; a revert becomes a problem naming the custom error."""
        from contracts import ContractRevert, LedgerError

        try:
            return self.ledger.sender.send_raw(tx.raw, tx.contract)
        except ContractRevert as exc:
            raise revert_problem(exc, f"{tx.contract}.{tx.function}") from None
        except LedgerError as exc:
            raise ContractRejected(f"{tx.contract}.{tx.function} failed: {exc}") from None
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise ChainUnavailable(f"could not reach the chain: {exc}") from None
        except (Web3Exception, ValueError) as exc:
            # e.g. a nonce too low, too little gas or balance: the node refused it before any block
            raise Unprocessable(f"the node refused {tx.contract}.{tx.function}: {exc}") from None

    def relay_as_operator(self, binding: Any, fn_name: str, *args: Any) -> Any:
        """Send a call paid by the operator's relayer account (e.g. approveBatch)."""
        from contracts import ContractRevert, LedgerError

        if self.relayer is None:
            raise ChainUnavailable("no relayer account is configured (set DX_RELAYER_KEY)")
        with self._relay_lock, _file_lock(self._relay_lock_path):
            try:
                return binding._send(self.relayer, fn_name, *args)
            except ContractRevert as exc:
                raise revert_problem(exc, f"{binding.NAME}.{fn_name}") from None
            except LedgerError as exc:
                raise ContractRejected(f"{binding.NAME}.{fn_name} failed: {exc}") from None
            except (Web3Exception, ValueError) as exc:
                raise ChainUnavailable(
                    f"the relayer could not send {binding.NAME}.{fn_name}: {exc}"
                ) from None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _type_str(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        return f"({','.join(_type_str(c) for c in item['components'])}){item['type'][5:]}"
    return item["type"]


def open_chain(settings: Settings, metrics: Any = None) -> ChainGateway | None:
    """The gateway for the configured deployment, or None when there is no deployment file yet."""
    path = settings.resolved_deployment_file
    if not path.exists():
        log.warning("no deployment file at %s: chain features are off", path)
        return None
    from contracts import Deployment

    deployment = Deployment.load(path)
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 30}))
    return ChainGateway(w3, deployment, load_relayer(settings.relayer_key), lock_dir=settings.data_dir)
