"""Fixtures of the end-to-end suite: a private data dir and free ports for a `dx` stack."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_block(count: int) -> int:
    """The first of `count` consecutive free ports (nodes listen on base+i)."""
    for _ in range(200):
        base = free_port()
        if base + count >= 65535:
            continue
        socks = []
        try:
            for i in range(count):
                s = socket.socket()
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports found")


@dataclass
class DxRunner:
    """Runs the real `dx` entry point in a subprocess against one private stack."""

    data_dir: Path
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "dx", *args], capture_output=True, text=True,
                              env=self.env, cwd=self.data_dir.parent, timeout=timeout)
        print(f"dx {' '.join(args)}: {time.monotonic() - start:.1f}s, exit {proc.returncode}")
        if check and proc.returncode != 0:
            raise AssertionError(f"dx {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
        return proc


def make_runner(tmp_path: Path) -> DxRunner:
    """A `dx` runner with its own data dir and free ports."""
    data_dir = tmp_path / "dx-data"
    api_port = free_port()
    env = {
        **os.environ,
        "DX_DATA_DIR": str(data_dir),
        "DX_CHAIN_PORT": str(free_port()),
        "DX_API_PORT": str(api_port),
        "DX_API_URL": f"http://127.0.0.1:{api_port}",
        "DX_SIWE_DOMAIN": f"127.0.0.1:{api_port}",
        "DX_NODE_BASE_PORT": str(free_port_block(3)),
        "DX_SPU_BASE_PORT": str(free_port_block(3)),
        "DX_KEYSTORE_PASSWORD": "e2e-test-password",
        "DX_ANCHOR_EVERY_SECONDS": "2",
        "PYTHONPATH": str(REPO),
        "COLUMNS": "200",
    }
    return DxRunner(data_dir, env)


@pytest.fixture
def dx_stack(tmp_path) -> Iterator[DxRunner]:
    """A `dx` runner on a private stack; whatever it started is stopped at the end."""
    runner = make_runner(tmp_path)
    try:
        yield runner
    finally:
        runner("down", "--timeout", "20", check=False)
