"""The local stack supervisor: start, check and stop the chain, API, anchorer and compute nodes.

Every service is a detached subprocess (its own session) with a pid file in `<data_dir>/run/` and a
log in `<data_dir>/logs/`, so `dx up` returns while the stack keeps running and `dx down` (any later
process) can stop it. `<data_dir>/run/stack.json` records how the stack was started (chain kind, RPC
URL, ports) so `status` and `down` see the same endpoints. State (chain state, database, blobs,
keystores, TLS material) lives in the data dir and survives down/up. The nodes' SPU links run TLS with
the CA and certificates of `<data_dir>/tls/` (dx.tls) unless the stack was started with
`--insecure-spu-links`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from dx import tls
from dx.errors import StackError
from dx_core import keystore
from dx_core.settings import REPO_ROOT, Settings

DEV_KEYSTORE_PASSWORD = keystore.DEV_PASSWORD  # documented dev default: local demo only
LOCAL_CHAINS = ("anvil", "ganache")
NODE_COUNT = 3
MIN_UPTIME_S = 3.0
LOCAL_ANCHOR_SECONDS = 5
# `;`-separated I=HOST:SPU_PORT,CONTROL_URL entries: the nodes run elsewhere (`dx up`, `dx cluster register`)
NODE_HOSTS_ENV = "DX_NODE_HOSTS"
# How each service state is shown (rich styles), by `dx up` as services start and by `dx status`.
STATE_STYLE = {"healthy": "green", "external": "green", "starting": "yellow", "stopped": "dim",
               "unhealthy": "red"}


@dataclass
class StackConfig:
    """How the stack was (or will be) started; saved as run/stack.json."""

    data_dir: str
    chain: str  # "anvil", "ganache" or "external"
    rpc_url: str
    api_url: str
    api_port: int
    chain_port: int
    node_base_port: int
    spu_base_port: int
    spu_tls: bool = True  # False only by an explicit --insecure-spu-links (debugging)
    # False when the nodes run on hosts of their own (DX_NODE_HOSTS names them): `dx up` then starts the
    # operator's services only and each node host runs `dx node serve`.
    local_nodes: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, chain: str | None = None,
                      rpc_url: str | None = None, spu_tls: bool = True) -> StackConfig:
        # A client or operator host with no stack.json of its own names its chain by DX_RPC_URL: that is
        # an external chain like --rpc-url (unless a local chain kind is asked for explicitly).
        env_rpc = os.environ.get("DX_RPC_URL", "").strip() if chain is None else ""
        rpc_url = rpc_url or env_rpc or None
        kind = "external" if rpc_url else (chain or settings.chain)
        url = rpc_url or f"http://127.0.0.1:{settings.chain_port}"
        api_url = os.environ.get("DX_API_URL") or f"http://127.0.0.1:{settings.api_port}"
        local_nodes = not os.environ.get(NODE_HOSTS_ENV, "").strip()
        return cls(str(Path(settings.data_dir).resolve()), kind, url, api_url, settings.api_port,
                   settings.chain_port, settings.node_base_port, settings.spu_base_port, spu_tls, local_nodes)

    @property
    def own_chain(self) -> bool:
        """Whether the stack runs its own local chain node (not one reached with --rpc-url)."""
        return self.chain in LOCAL_CHAINS


def is_local_dev_chain(config: StackConfig, chain_id: int | None) -> bool:
    """The local dev chain, where the public dev keys and password may be used: the stack's own
    Anvil/Ganache node AND a dev chain id. A chain reached with --rpc-url never is, whatever its id."""
    return config.own_chain and chain_id in keystore.DEV_CHAIN_IDS


@dataclass
class Service:
    """One supervised process: how to start it and how to tell it is healthy."""

    name: str
    module: str  # the Python module it runs (`python -m module`)
    args: list[str] = field(default_factory=list)
    health_url: str | None = None  # None: healthy means alive

    @property
    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module, *self.args]


@dataclass
class ServiceStatus:
    name: str
    state: str  # healthy | starting | stopped | external | unhealthy
    pid: int | None
    endpoint: str | None
    detail: str = ""


def services(config: StackConfig) -> list[Service]:
    """The stack's services in start order."""
    out: list[Service] = []
    if config.chain != "external":
        out.append(Service("chain", "ganache.launcher",
                           ["--kind", config.chain, "--port", str(config.chain_port),
                            "--state-dir", str(Path(config.data_dir) / "chain")]))
    out.append(Service("api", "exchange_api", [], f"{config.api_url}/health"))
    out.append(Service("anchorer", "notarizer.anchorer"))
    if config.local_nodes:
        out.extend(node_services(config))
    return out


def node_services(config: StackConfig) -> list[Service]:
    """The three compute nodes, each started as it would be on a host of its own: blobs only through the
    exchange API (signed in as the node), the chain by RPC, its own keystore and TLS files (its work dir and
    the public deployment file: the settings' defaults). No node is told where the API keeps its blobs,
    so the one-machine stack runs its nodes the way `dx node serve` runs one on a host of its own."""
    out = []
    data_dir = Path(config.data_dir)
    for i in range(NODE_COUNT):
        tls_args = tls.node_paths(config.data_dir, i).args() if config.spu_tls else []
        args = ["--index", str(i), "--keystore", str(data_dir / "keys" / f"node-{i}.json"),
                "--rpc-url", config.rpc_url, "--watch", "--blobs", config.api_url, *tls_args]
        out.append(Service(f"node-{i}", "mpc_compute.node", args,
                           f"http://127.0.0.1:{config.node_base_port + i}/health"))
    return out


def rpc_alive(rpc_url: str, timeout: float = 2.0) -> int | None:
    """The chain id at `rpc_url`, or None when nothing answers."""
    try:
        r = httpx.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                       timeout=timeout)
        return int(r.json()["result"], 16)
    except (httpx.HTTPError, KeyError, ValueError):
        return None


class Supervisor:
    """Starts, checks and stops the services of one data dir."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir)
        self.run_dir = self.data_dir / "run"
        self.log_dir = self.data_dir / "logs"
        self._procs: dict[str, subprocess.Popen] = {}  # started by this process: exit is observable
        # The keystore password the services get; None: the caller's DX_KEYSTORE_PASSWORD, or on the
        # stack's own local chain the demo default.
        self.keystore_password: str | None = None

    # ---- saved state -------------------------------------------------------------------------
    @classmethod
    def load(cls, settings: Settings) -> Supervisor | None:
        """The supervisor of a stack started earlier in this data dir, if any."""
        path = Path(settings.data_dir).resolve() / "run" / "stack.json"
        if not path.exists():
            return None
        return cls(StackConfig(**json.loads(path.read_text())))

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "stack.json").write_text(json.dumps(asdict(self.config), indent=1))

    def child_env(self) -> dict[str, str]:
        """The environment of every service: the caller's plus the stack's endpoints."""
        env = dict(os.environ)
        env.update({
            "DX_DATA_DIR": self.config.data_dir,
            "DX_RPC_URL": self.config.rpc_url,
            "DX_API_URL": self.config.api_url,
            "DX_API_PORT": str(self.config.api_port),
            "DX_CHAIN_PORT": str(self.config.chain_port),
            "DX_NODE_BASE_PORT": str(self.config.node_base_port),
            "DX_SPU_BASE_PORT": str(self.config.spu_base_port),
            "PYTHONUNBUFFERED": "1",
        })
        # Services import the repo's packages even when it is not pip-installed (a fresh clone).
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        if self.config.chain != "external":
            env["DX_CHAIN"] = self.config.chain
        if self.keystore_password is not None:
            env[keystore.PASSWORD_ENV] = self.keystore_password
        elif self.config.own_chain:
            env.setdefault(keystore.PASSWORD_ENV, DEV_KEYSTORE_PASSWORD)
        # A local stack anchors checkpoints every few seconds (unless told otherwise), so a regulator
        # sees fresh events covered quickly; production keeps the settings default.
        env.setdefault("DX_ANCHOR_EVERY_SECONDS", str(LOCAL_ANCHOR_SECONDS))
        for var, account in (("DX_RELAYER_KEY", "relayer"), ("DX_NOTARIZER_KEY", "notarizer")):
            keystore_path = self.data_dir / "keys" / f"{account}.json"
            if var not in env and keystore_path.exists():
                env[var] = str(keystore_path)
        return env

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def pid_of(self, svc: Service) -> int | None:
        """The pid of a running `svc` started here (checks the command line against pid reuse)."""
        try:
            pid = int(self.pid_file(svc.name).read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        if svc.module.encode() not in cmdline:
            return None
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return None
        return None if stat.rsplit(")", 1)[1].split()[0] == "Z" else pid

    # ---- health ------------------------------------------------------------------------------
    def check(self, svc: Service) -> ServiceStatus:
        endpoint = self.config.rpc_url if svc.name == "chain" else svc.health_url
        pid = self.pid_of(svc)
        if pid is None:
            return ServiceStatus(svc.name, "stopped", None, endpoint)
        if svc.name == "chain":
            chain_id = rpc_alive(self.config.rpc_url)
            ok, detail = chain_id is not None, f"chain id {chain_id}" if chain_id else "no RPC answer"
        elif svc.health_url:
            try:
                r = httpx.get(svc.health_url, timeout=2.0)
                ok, detail = r.status_code == 200, f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                ok, detail = False, type(exc).__name__
        else:  # no health route: alive for a few seconds means it got past its start-up checks
            age = time.time() - self.pid_file(svc.name).stat().st_mtime
            ok, detail = age >= MIN_UPTIME_S, "running" if age >= MIN_UPTIME_S else "just started"
        return ServiceStatus(svc.name, "healthy" if ok else "starting", pid, endpoint, detail)

    def status(self) -> list[ServiceStatus]:
        out = []
        if self.config.chain == "external":
            cid = rpc_alive(self.config.rpc_url)
            out.append(ServiceStatus("chain", "external" if cid else "unhealthy", None, self.config.rpc_url,
                                     f"chain id {cid}" if cid else "no RPC answer"))
        out.extend(self.check(s) for s in services(self.config))
        return out

    # ---- start / stop ------------------------------------------------------------------------
    def start(self, svc: Service) -> int:
        """Spawn `svc` detached (own session), stdout+stderr appended to its log."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file(svc.name).open("ab") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} start {' '.join(svc.argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(svc.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=self.child_env(), cwd=self.config.data_dir, start_new_session=True)
        self.pid_file(svc.name).write_text(str(proc.pid))
        self._procs[svc.name] = proc
        return proc.pid

    def wait_healthy(self, svc: Service, timeout: float) -> ServiceStatus:
        deadline = time.monotonic() + timeout
        while True:
            proc = self._procs.get(svc.name)
            st = self.check(svc)
            if st.state == "healthy":
                return st
            exited = proc.poll() is not None if proc is not None else st.state == "stopped"
            if exited:
                raise StackError(f"{svc.name} exited while starting: {self.tail(svc.name, 1) or 'no output'}",
                                 hint=f"read its log: {self.log_file(svc.name)}")
            if time.monotonic() > deadline:
                raise StackError(f"{svc.name} did not become healthy within {timeout:.0f}s ({st.detail})",
                                 hint=f"read its log: {self.log_file(svc.name)}")
            time.sleep(0.3)

    def tail(self, name: str, lines: int = 20) -> str:
        try:
            text = self.log_file(name).read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def up(self, on_event: Callable[[str, ServiceStatus], None],
           after_chain: Callable[[], None] | None = None, timeout: float = 90.0) -> list[ServiceStatus]:
        """Start every service not already running, in order; `after_chain` runs once the
        chain answers (deployment)."""
        self.save()
        if self.config.chain == "external" and rpc_alive(self.config.rpc_url) is None:
            raise StackError(f"no chain answers at {self.config.rpc_url}", hint="check --rpc-url")
        results = []
        for svc in services(self.config):
            if svc.name != "chain" and after_chain is not None:
                after_chain()
                after_chain = None
            if svc.name.startswith("node-") and self.config.spu_tls:
                tls.ensure_cluster_tls(self.data_dir, NODE_COUNT)
            st = self.check(svc)
            if st.state == "stopped":
                if svc.name == "chain" and rpc_alive(self.config.rpc_url) is not None:
                    raise StackError(f"something else already answers at {self.config.rpc_url}",
                                     hint="stop it, pick another DX_CHAIN_PORT, or pass --rpc-url to use it")
                self.start(svc)
                on_event("starting", st)
                st = self.wait_healthy(svc, timeout)
            elif st.state == "starting":
                st = self.wait_healthy(svc, timeout)
            on_event("ready" if st.state == "healthy" else st.state, st)
            results.append(st)
        return results

    def stop(self, svc: Service, timeout: float) -> bool:
        """SIGTERM (SIGINT for the chain, so Anvil saves state), then SIGKILL the session after
        `timeout`. True if it was running."""
        pid = self.pid_of(svc)
        if pid is None:
            self.pid_file(svc.name).unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGINT if svc.name == "chain" else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid_of(svc) is not None:
            time.sleep(0.1)
        try:  # whatever is left of its session (e.g. a chain node whose wrapper was killed)
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.pid_file(svc.name).unlink(missing_ok=True)
        return True

    def down(self, timeout: float = 15.0) -> list[tuple[str, bool]]:
        """Stop every service, last started first."""
        return [(s.name, self.stop(s, timeout)) for s in reversed(services(self.config))]
