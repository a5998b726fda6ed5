"""Start and stop a local EVM node (Anvil or Ganache) from the pinned tooling in ganache/node_modules."""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal

from dx_core.settings import get_settings

NODE_MODULES = Path(__file__).resolve().parent / "node_modules"
ANVIL_BIN = NODE_MODULES / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
GANACHE_CLI = NODE_MODULES / "ganache" / "dist" / "node" / "cli.js"

# Anvil's default mnemonic; Ganache is given the same one so both chains share accounts.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 20
DEV_BALANCE_ETH = 10_000

# The first 20 keys of DEV_MNEMONIC (m/44'/60'/0'/0/i). Public test keys: never use them for real funds.
DEV_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
    "0xf214f2b2cd398c806f84e317254e0f0b801d0643303237d97a22a48e01628897",
    "0x701b615bbdfb9de65240bc28bd21bbc0d996645a3dd57e7b12bc2bdf6f192c82",
    "0xa267530f49f8280200edf313ee7af6b827f2a8bce2897751d06a843f644967b1",
    "0x47c99abed3324a2707c28affff1267e45918ec8c3f20b8aa892e8b065d2942dd",
    "0xc526ee95bf44d8fc405a158bb884d9d1238d99f0612e9f33d006bb0789009aaa",
    "0x8166f546bab6da521a8369cab06c5d2b9e46670292d85c875ee9ec20e84ffb61",
    "0xea6c44ac03bff858b476bba40716402b03e41b8e97e276d1baec7c37d42484a0",
    "0x689af8efa8c651a91ad287602527f3af2fe9f6501a7ac4b061667b5a93e037fd",
    "0xde9be858da4a475276426320d5e9262ecfc3ba460bfac56360bfa6c4c28b4ee0",
    "0xdf57089febbacf7ba0bc227dafbffa9fc08a93fdc68e1e42411a14efcf23656e",
)

ChainKind = Literal["anvil", "ganache"]


class ChainStartError(RuntimeError):
    """The node process exited or did not answer eth_chainId in time."""


def free_port() -> int:
    """A TCP port that was free a moment ago (bind to port 0 and ask the kernel)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rpc_chain_id(rpc_url: str, timeout: float = 1.0) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(rpc_url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return int(json.loads(response.read())["result"], 16)


class LocalChain:
    """A running local node. Use `LocalChain.start(...)`, then `.stop()` or a `with` block."""

    def __init__(
        self,
        kind: ChainKind,
        process: subprocess.Popen,
        rpc_url: str,
        port: int,
        chain_id: int,
        state_path: Path | None,
        log_path: Path,
    ) -> None:
        self.kind = kind
        self.process = process
        self.rpc_url = rpc_url
        self.port = port
        self.chain_id = chain_id
        self.state_path = state_path
        self.log_path = log_path

    @classmethod
    def start(
        cls,
        kind: ChainKind = "anvil",
        port: int | None = None,
        state_dir: Path | None = None,
        chain_id: int = 31337,
        state_interval: int = 5,
        timeout: float = 60.0,
    ) -> LocalChain:
        """Launch a node on 127.0.0.1 and wait until it answers eth_chainId.

        With `state_dir`, Anvil loads/saves `state_dir/anvil-state.json` (saved every `state_interval`
        seconds and on stop) and Ganache keeps its database in `state_dir/ganache-db`.
        """
        port = port or free_port()
        state_path: Path | None = None
        if state_dir is not None:
            state_dir = Path(state_dir)
            state_dir.mkdir(parents=True, exist_ok=True)
        if kind == "anvil":
            cmd = [
                str(ANVIL_BIN),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--chain-id",
                str(chain_id),
                "--mnemonic",
                DEV_MNEMONIC,
                "--accounts",
                str(DEV_ACCOUNT_COUNT),
                "--balance",
                str(DEV_BALANCE_ETH),
                "--hardfork",
                "shanghai",
            ]
            if state_dir is not None:
                state_path = state_dir / "anvil-state.json"
                cmd += ["--state", str(state_path), "--state-interval", str(state_interval)]
        elif kind == "ganache":
            cmd = [
                "node",
                str(GANACHE_CLI),
                "--server.host",
                "127.0.0.1",
                "--server.port",
                str(port),
                "--chain.chainId",
                str(chain_id),
                "--chain.networkId",
                str(chain_id),
                "--chain.hardfork",
                "shanghai",
                "--wallet.mnemonic",
                DEV_MNEMONIC,
                "--wallet.totalAccounts",
                str(DEV_ACCOUNT_COUNT),
                "--wallet.defaultBalance",
                str(DEV_BALANCE_ETH),
                "--logging.quiet",
            ]
            if state_dir is not None:
                state_path = state_dir / "ganache-db"
                state_path.mkdir(parents=True, exist_ok=True)
                cmd += ["--database.dbPath", str(state_path)]
        else:
            raise ValueError(f"unknown chain kind {kind!r}: expected 'anvil' or 'ganache'")

        log_file = tempfile.NamedTemporaryFile(prefix=f"dx-{kind}-", suffix=".log", delete=False)
        log_path = Path(log_file.name)
        process = subprocess.Popen(
            cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log_file.close()
        rpc_url = f"http://127.0.0.1:{port}"
        chain = cls(kind, process, rpc_url, port, chain_id, state_path, log_path)
        chain._wait_ready(timeout)
        return chain

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ChainStartError(
                    f"{self.kind} exited with code {self.process.returncode} before answering on "
                    f"{self.rpc_url}; its output:\n{self._log_tail()}"
                )
            try:
                answered = _rpc_chain_id(self.rpc_url)
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                time.sleep(0.1)
                continue
            if answered != self.chain_id:
                self.stop()
                raise ChainStartError(f"{self.kind} answered chain id {answered}, expected {self.chain_id}")
            return
        self.stop()
        raise ChainStartError(f"{self.kind} did not answer eth_chainId on {self.rpc_url} within {timeout}s")

    def _log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no output)"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """Stop with SIGINT (Anvil writes its state file then), escalating to SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        try:
            self.log_path.unlink()
        except OSError:
            pass

    def __enter__(self) -> LocalChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalChain(kind={self.kind!r}, rpc_url={self.rpc_url!r}, chain_id={self.chain_id})"


def main(argv: list[str] | None = None) -> int:
    """`python -m ganache.launcher`: start a node with settings defaults and wait for Ctrl-C."""
    settings = get_settings()
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--kind", choices=["anvil", "ganache"], default=settings.chain)
    parser.add_argument("--port", type=int, default=settings.chain_port)
    parser.add_argument("--chain-id", type=int, default=settings.chain_id)
    parser.add_argument("--state-dir", type=Path, default=settings.data_dir / "chain")
    parser.add_argument("--no-state", action="store_true", help="do not persist chain state")
    args = parser.parse_args(argv)
    chain = LocalChain.start(
        args.kind, port=args.port, chain_id=args.chain_id, state_dir=None if args.no_state else args.state_dir
    )
    print(
        f"{chain.kind} listening on {chain.rpc_url} (chain id {chain.chain_id}); Ctrl-C to stop", flush=True
    )
    stop = False

    def _on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        while not stop and chain.running:
            time.sleep(0.5)
    finally:
        chain.stop()
    return 0 if stop else 1


if __name__ == "__main__":
    sys.exit(main())
