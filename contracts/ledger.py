"""`Ledger`: one object bundling the bindings of the four deployed contracts and their event stream."""

from __future__ import annotations

from pathlib import Path

from web3 import Web3

from contracts.artifacts import abi
from contracts.bindings.jobs import JobsBinding
from contracts.bindings.market import MarketBinding
from contracts.bindings.notary import NotaryBinding
from contracts.bindings.registry import RegistryBinding
from contracts.deploy import Deployment
from contracts.errors import LedgerError
from contracts.tx import DecodedEvent, EventDecoder, TxResult, TxSender

LOG_CHUNK_BLOCKS = 10_000
BINDINGS: dict[str, type] = {
    "Registry": RegistryBinding,
    "Market": MarketBinding,
    "ComputeJobs": JobsBinding,
    "Notary": NotaryBinding,
}


class Ledger:
    """The exchange's ledger on one chain: `.registry`, `.market`, `.jobs`, `.notary` and `events()`."""

    def __init__(self, w3: Web3, deployment: Deployment) -> None:
        self.w3 = w3
        self.deployment = deployment
        addresses = deployment.addresses
        self.decoder = EventDecoder(w3, {addr: (name, abi(name)) for name, addr in addresses.items()})
        self.sender = TxSender(w3, self.decoder)
        self._bindings: dict[str, object] = {}
        for name, address in addresses.items():
            if name in BINDINGS:
                binding = BINDINGS[name](w3, address, self.sender)
                if hasattr(binding, "from_block"):
                    binding.from_block = deployment.blocks.get(name, 0)
                self._bindings[name] = binding

    def _binding(self, name: str) -> object:
        try:
            return self._bindings[name]
        except KeyError:
            raise LedgerError(f"the deployment has no {name} contract") from None

    @property
    def registry(self) -> RegistryBinding:
        return self._binding("Registry")  # type: ignore[return-value]

    @property
    def market(self) -> MarketBinding:
        return self._binding("Market")  # type: ignore[return-value]

    @property
    def jobs(self) -> JobsBinding:
        return self._binding("ComputeJobs")  # type: ignore[return-value]

    @property
    def notary(self) -> NotaryBinding:
        return self._binding("Notary")  # type: ignore[return-value]

    def send_raw(self, raw_tx: bytes | str) -> TxResult:
        """Relay a transaction signed off-box (e.g. from a `build_*` dict), wait, decode its events."""
        return self.sender.send_raw(raw_tx)

    def events(self, from_block: int, to_block: int | None = None) -> list[DecodedEvent]:
        """Every event of every ledger contract in [from_block, to_block], by (block, log index)."""
        last = self.w3.eth.block_number if to_block is None else to_block
        out: list[DecodedEvent] = []
        start = from_block
        while start <= last:
            end = min(start + LOG_CHUNK_BLOCKS - 1, last)
            query = {"fromBlock": start, "toBlock": end, "address": self.decoder.addresses}
            logs = self.w3.eth.get_logs(query)  # type: ignore[arg-type]
            out.extend(e for e in (self.decoder.decode(log) for log in logs) if e is not None)
            start = end + 1
        out.sort(key=lambda e: (e.block_number, e.log_index))
        return out


def web3_at(rpc_url: str, *, timeout: float = 30.0) -> Web3:
    """A web3 connection to the JSON-RPC endpoint at `rpc_url` (nothing is sent until first use)."""
    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))


def connect(rpc_url: str, deployment: Deployment | Path | str, *, timeout: float = 30.0) -> Ledger:
    """The `Ledger` of `deployment` (a Deployment, or its saved JSON's path) on the chain at `rpc_url`."""
    if not isinstance(deployment, Deployment):
        deployment = Deployment.load(Path(deployment))
    return Ledger(web3_at(rpc_url, timeout=timeout), deployment)
