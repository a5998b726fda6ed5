"""Chain gateway: the Ledger bindings, the operator's relayer account, and checks on client-signed txs."""

from __future__ import annotations

import contextlib
import logging
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
from web3.contract import Contract
from web3.exceptions import TimeExhausted, Web3Exception

from contracts import ContractRevert, Deployment, Ledger, LedgerError, TxResult, web3_at
from contracts.artifacts import abi
from contracts.bindings.base import ContractBinding
from dx_core import keystore
from dx_core.locks import file_lock
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
    return keystore.load_signer(value)


def jsonable(value: Any) -> Any:
    """Decoded event or call arguments as JSON: bytes as 0x-hex, integers beyond 2^53 as strings."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)  # JSON numbers above 2^53 lose precision in many readers
    return value


def revert_problem(exc: ContractRevert, what: str) -> ContractRejected:
    """A problem naming the contract's custom error, for a ContractRevert from the ledger."""
    args = {k: ("0x" + v.hex() if isinstance(v, bytes | bytearray) else v) for k, v in exc.args_dict.items()}
    args = {k: (str(v) if isinstance(v, int) and abs(v) >= 2**53 else v) for k, v in args.items()}
    return ContractRejected(
        f"{what} reverted: {exc}",
        extra={"contract_error": {"contract": exc.contract, "name": exc.error_name, "args": args}},
    )


@contextlib.contextmanager
def build_errors(what: str) -> Iterator[None]:
    """Turn a failed build of `what` (e.g. "Market.listDataset") into a problem: the contract's custom
    error for a revert in the preflight call, 422 for arguments the ABI cannot encode."""
    try:
        yield
    except ContractRevert as exc:
        raise revert_problem(exc, what) from None
    except (ValueError, TypeError, Web3Exception) as exc:
        raise Unprocessable(f"cannot encode {what} with these arguments: {exc}") from None


class ChainGateway:
    """The API's view of the ledger. Writes here are relays; nothing is recorded as done until mined."""

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        relayer: LocalAccount | None = None,
        lock_dir: Path | None = None,
    ) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.ledger = Ledger(w3, deployment)
        self.relayer = relayer
        self.chain_id = int(deployment.chain_id)
        self.first_block = int(deployment.first_block)
        self._by_address = {to_checksum_address(a): name for name, a in deployment.addresses.items()}
        self._contracts: dict[str, Contract] = {
            name: w3.eth.contract(address=to_checksum_address(a), abi=abi(name))
            for name, a in deployment.addresses.items()
        }
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

    def contract_name(self, address: str) -> str | None:
        """The name of the ledger contract at `address` (e.g. "Market"), None for any other address."""
        return self._by_address.get(to_checksum_address(address))

    def function_name(self, contract: str, data: bytes) -> str:
        """The function a call to `contract` with calldata `data` invokes; "unknown" if none matches.

        Only the selector is matched (web3's ABI lookup), not the arguments: a call with malformed
        arguments still names its function, and the chain's revert is what the caller gets back.
        """
        try:
            return self._contracts[contract].get_function_by_selector(bytes(data[:4])).fn_name
        except (ValueError, KeyError):
            return "unknown"

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
        function = self.function_name(contract, bytes(tx.get("data", b"")))
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

    def send_raw(self, tx: RawTx) -> TxResult:
        """Relay and wait for the receipt; a revert becomes a problem naming the custom error."""
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

    def relay_as_operator(
        self, binding: ContractBinding, fn_name: str, *args: Any, wait_seconds: float = 120.0
    ) -> TxResult | str:
        """Send a call paid by the operator's relayer account (e.g. approveBatch): its mined result, or its
        tx hash when it is not mined within `wait_seconds` (it stays sent; the indexer sees it land)."""
        if self.relayer is None:
            raise ChainUnavailable("no relayer account is configured (set DX_RELAYER_KEY)")
        try:
            # The relayer's nonces are taken one tx at a time; the wait for the receipt holds no lock.
            with self._relay_lock, file_lock(self._relay_lock_path):
                tx = binding.build(fn_name, *args, sender=self.relayer.address)
                tx_hash = self.w3.eth.send_raw_transaction(self.relayer.sign_transaction(tx).raw_transaction)
            try:
                return self.ledger.sender.wait(tx_hash, binding.NAME, timeout=wait_seconds)
            except TimeExhausted:
                return HexBytes(tx_hash).to_0x_hex()
        except ContractRevert as exc:
            raise revert_problem(exc, f"{binding.NAME}.{fn_name}") from None
        except LedgerError as exc:
            raise ContractRejected(f"{binding.NAME}.{fn_name} failed: {exc}") from None
        except (Web3Exception, ValueError) as exc:
            raise ChainUnavailable(f"the relayer could not send {binding.NAME}.{fn_name}: {exc}") from None


def open_chain(settings: Settings) -> ChainGateway | None:
    """The gateway for the configured deployment, or None when there is no deployment file yet."""
    path = settings.resolved_deployment_file
    if not path.exists():
        log.warning("no deployment file at %s: chain features are off", path)
        return None
    return ChainGateway(
        web3_at(settings.rpc_url),
        Deployment.load(path),
        load_relayer(settings.relayer_key),
        lock_dir=settings.data_dir,
    )
