"""Deployment: the wiring deploy() does, the deployment file round trip, and the deploy CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts import Deployment, DeploymentError
from contracts.bindings.notary import NOTARIZER_ROLE
from ganache.launcher import DEV_KEYS

pytestmark = [pytest.mark.contracts, pytest.mark.chain]

ROOT = Path(__file__).resolve().parents[2]


def test_deploy_wires_the_contracts(ledger, deployment, operator) -> None:
    assert set(deployment.addresses) == {"Registry", "Market", "ComputeJobs", "Notary"}
    assert deployment.deployer == operator.address
    assert deployment.blocks["Registry"] < deployment.blocks["Market"] < deployment.blocks["ComputeJobs"]
    assert ledger.market.read("computeJobs") == deployment.addresses["ComputeJobs"]
    assert ledger.market.read("registry") == deployment.addresses["Registry"]
    assert ledger.jobs.read("registry") == deployment.addresses["Registry"]
    assert ledger.jobs.read("market") == deployment.addresses["Market"]
    assert ledger.notary.read("hasRole", NOTARIZER_ROLE, operator.address)
    assert ledger.registry.read("hasRole", b"\0" * 32, operator.address)


def test_deployment_file_round_trip(deployment, w3, tmp_path) -> None:
    path = deployment.save(tmp_path / "sub" / "deployment.json")
    loaded = Deployment.load(path)
    assert loaded == deployment
    loaded.check_chain(w3)
    other_chain = Deployment(1, deployment.addresses, deployment.blocks)
    with pytest.raises(DeploymentError, match="chain 1"):
        other_chain.check_chain(w3)
    with pytest.raises(DeploymentError, match="no code for Registry"):
        Deployment(deployment.chain_id, {"Registry": "0x" + "12" * 20}, {}).check_chain(w3)
    with pytest.raises(DeploymentError, match="no deployment file"):
        Deployment.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(DeploymentError, match="malformed"):
        Deployment.load(tmp_path / "bad.json")


def test_deploy_cli(chain, w3, tmp_path, chain_snapshot) -> None:
    out = tmp_path / "deployment.json"
    env = {"PATH": "/usr/bin:/bin", "DX_DATA_DIR": str(tmp_path), "DX_DEPLOYER_KEY": DEV_KEYS[3]}
    cmd = [sys.executable, str(ROOT / "scripts" / "deploy.py"), "--rpc-url", chain.rpc_url, "--out", str(out)]
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    saved = Deployment.load(out)
    assert printed["addresses"] == saved.addresses and printed["file"] == str(out)
    assert saved.deployer == "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # dev account 3
    saved.check_chain(w3)
    env.pop("DX_DEPLOYER_KEY")
    refused = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert refused.returncode != 0 and "no deployer key" in refused.stderr
