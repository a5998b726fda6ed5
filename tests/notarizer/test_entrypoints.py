"""Entry points for real: the anchorer as a process, the verifier downloading from a live API server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from eth_account import Account
from fastapi import FastAPI, Header, HTTPException

from exchange_api.routes.audit import make_audit_router
from notarizer.anchorer import Anchorer
from notarizer.cli import main as verify_main
from notarizer.log import NewEntry, TransparencyLog

pytestmark = [pytest.mark.chain, pytest.mark.database]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def audit_server(tlog: TransparencyLog) -> Iterator[str]:
    """The audit router served by uvicorn on a free port (auth: a trivial bearer-token check)."""

    def require(authorization: str = Header("")) -> None:
        if authorization != "Bearer regulator":
            raise HTTPException(status_code=401, detail="regulator token required")

    app = FastAPI()
    app.include_router(make_audit_router(tlog, require, signer=Account.from_key("0x" + "31" * 32)))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_verifier_downloads_the_log_and_a_bundle_from_the_api(
    tlog, fresh_chain, operator, chain, audit_server, capsys
) -> None:
    tlog.append_many([NewEntry("job.requested", "system", ["job:3"], {"i": i}) for i in range(6)])
    Anchorer(tlog, fresh_chain, operator, every_entries=6, every_seconds=3600).run_once()
    base = [
        "--rpc",
        chain.rpc_url,
        "--notary",
        fresh_chain.notary.address,
        "--api",
        audit_server,
        "--token",
        "regulator",
        "--json",
    ]
    assert verify_main(base) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["entries"] == 7 and report["anchored_size"] == 6
    assert verify_main([*base, "--job", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 6
    with pytest.raises(Exception, match="401"):
        verify_main([*base[:-3], "--json"])


def test_anchorer_module_entry_point_anchors_once(tlog, fresh_chain, operator, tmp_path, chain) -> None:
    tlog.append_many([NewEntry("job.requested", "system", ["job:1"], {"i": i}) for i in range(3)])
    deployment = fresh_chain.deployment.save(tmp_path / "deployment.json")
    env = {
        **os.environ,
        "DX_DATABASE_URL": str(tlog.engine.url.render_as_string(hide_password=False)),
        "DX_RPC_URL": chain.rpc_url,
        "DX_DEPLOYMENT_FILE": str(deployment),
        "DX_NOTARIZER_KEY": "0x" + operator.key.hex().removeprefix("0x"),
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "notarizer.anchorer", "--once", "--force"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert printed["tree_size"] == 3 and printed["root"] == tlog.root(3).hex()
    assert fresh_chain.notary.latest().tree_size == 3
    assert [c.tree_size for c in tlog.checkpoints()] == [3]
