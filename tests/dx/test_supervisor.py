"""The supervisor's mechanics on a real little service (`python -m http.server`): start, health, stop."""

from __future__ import annotations

import os
import socket

import pytest

from dx.errors import StackError
from dx.stack import Service, StackConfig, Supervisor


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def supervisor(tmp_path):
    config = StackConfig(str(tmp_path), "external", "http://127.0.0.1:1", "http://127.0.0.1:2", 2, 1, 3, 4)
    sup = Supervisor(config)
    yield sup
    for name in ("web", "dies"):
        pid_file = sup.pid_file(name)
        if pid_file.exists():
            try:
                os.killpg(int(pid_file.read_text()), 9)
            except ProcessLookupError:
                pass


def test_start_wait_healthy_stop(supervisor):
    port = _free_port()
    web = Service("web", "http.server", [str(port), "--bind", "127.0.0.1"], f"http://127.0.0.1:{port}/")
    pid = supervisor.start(web)
    status = supervisor.wait_healthy(web, timeout=30)
    assert status.state == "healthy" and status.pid == pid
    assert supervisor.pid_of(web) == pid
    assert "start" in supervisor.log_file("web").read_text()
    # A second supervisor (another `dx` process) sees and stops the same service.
    other = Supervisor(supervisor.config)
    assert other.check(web).state == "healthy"
    assert other.stop(web, timeout=10) is True
    assert other.pid_of(web) is None
    assert not supervisor.pid_file("web").exists()
    assert other.stop(web, timeout=1) is False  # stopping a stopped service is a no-op


def test_a_service_that_exits_is_reported_with_its_log(supervisor):
    dies = Service("dies", "json.tool", ["/nonexistent/file.json"], "http://127.0.0.1:9/")
    supervisor.start(dies)
    with pytest.raises(StackError, match="dies exited while starting") as info:
        supervisor.wait_healthy(dies, timeout=30)
    assert str(supervisor.log_file("dies")) in info.value.hint


def test_a_reused_pid_is_not_mistaken_for_the_service(supervisor):
    web = Service("web", "http.server", ["0"], None)
    supervisor.run_dir.mkdir(parents=True)
    supervisor.pid_file("web").write_text(str(os.getpid()))  # alive, but it is pytest, not http.server
    assert supervisor.pid_of(web) is None
    assert supervisor.check(web).state == "stopped"


def test_config_round_trips_through_stack_json(supervisor):
    supervisor.save()
    loaded = Supervisor.load(type("S", (), {"data_dir": supervisor.data_dir})())
    assert loaded is not None and loaded.config == supervisor.config
    env = supervisor.child_env()
    assert env["DX_RPC_URL"] == "http://127.0.0.1:1" and env["DX_DATA_DIR"] == str(supervisor.data_dir)
    assert env.get("DX_KEYSTORE_PASSWORD") != "dx-local-demo-only"  # an external chain: never the demo one
