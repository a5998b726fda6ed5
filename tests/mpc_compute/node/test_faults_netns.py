"""Three nodes in their own network namespaces (veth pairs on a bridge); one node's link is cut mid-job."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.fixtures.cluster import FAST_FAIL, Cluster, prepare_joint_stats_job, start_cluster

pytestmark = [pytest.mark.mpc, pytest.mark.netns]

SUBNET = "10.231.0"
TAG = f"{os.getpid() % 100000}"
NAMESPACES = [f"dxt{TAG}n{i}" for i in range(3)]
HOST_VETHS = [f"dxv{TAG}h{i}" for i in range(3)]
BRIDGE = f"dxb{TAG}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "the `ip` tool (iproute2) is not installed"
    probe = _ip("netns", "list", check=False)
    if probe.returncode != 0:
        return f"`ip netns` is unavailable: {probe.stderr.strip()}"
    return None


def _teardown() -> None:
    for ns in NAMESPACES:
        _ip("netns", "delete", ns, check=False)  # takes the namespace side of its veth pair with it
    for veth in HOST_VETHS:
        _ip("link", "delete", veth, check=False)
    _ip("link", "delete", BRIDGE, check=False)


@pytest.fixture
def namespaces() -> Iterator[list[str]]:
    reason = _netns_unavailable()
    if reason:
        pytest.skip(reason)
    _teardown()
    try:
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{SUBNET}.254/24", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        for i, (ns, veth) in enumerate(zip(NAMESPACES, HOST_VETHS, strict=True)):
            _ip("netns", "add", ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", f"dxp{TAG}{i}")
            _ip("link", "set", f"dxp{TAG}{i}", "netns", ns)
            _ip("link", "set", veth, "master", BRIDGE)
            _ip("link", "set", veth, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", f"dxp{TAG}{i}", "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{SUBNET}.{i + 1}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
        yield NAMESPACES
    finally:
        _teardown()


def stage_names(state: dict) -> list[str]:
    return [e["stage"] for e in state["timeline"]]


def test_cut_link_mid_job(namespaces, tmp_path):
    hosts = [f"{SUBNET}.{i + 1}" for i in range(3)]
    cluster: Cluster = start_cluster(
        tmp_path / "cluster", hosts=hosts, netns=namespaces, extra_args=FAST_FAIL
    )
    try:
        job = prepare_joint_stats_job(cluster, tmp_path / "job", rows=(25_000, 25_000), chunk_rows=10_000)
        cluster.trigger(job.job_id, job.claim)
        deadline = time.monotonic() + 120
        while "shares_verified" not in stage_names(cluster.status(2, job.job_id)):
            assert time.monotonic() < deadline, "node 2 never started computing"
            time.sleep(0.05)
        _ip("link", "set", HOST_VETHS[2], "down")
        cut_at = time.monotonic()
        states = cluster.wait(job.job_id, nodes=[0, 1], timeout=120)
        waited = time.monotonic() - cut_at
        for s in states:
            assert s["status"] == "failed", s
            assert "party" in s["error"].lower()
            assert "computed" not in stage_names(s)
        assert waited < 120
        _ip("link", "set", HOST_VETHS[2], "up")
        isolated = cluster.wait(job.job_id, nodes=[2], timeout=120)[0]
        assert isolated["status"] == "failed" and "computed" not in stage_names(isolated)
        cluster.trigger(job.job_id, job.claim)
        final = cluster.wait(job.job_id, timeout=180)
        assert [s["status"] for s in final] == ["succeeded"] * 3, [s["error"] for s in final]
    finally:
        cluster.stop()
