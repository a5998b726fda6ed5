"""`dx up` / `dx down` / `dx up`: the stack comes back with its chain state, deployment and keys."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.e2e


def _states(dx) -> dict[str, str]:
    proc = dx("--json", "status", check=False)
    return {s["name"]: s["state"] for s in json.loads(proc.stdout)["services"]}


def _code_at(rpc_url: str, address: str) -> str:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getCode", "params": [address, "latest"]}
    return httpx.post(rpc_url, json=body, timeout=10).json()["result"]


def test_up_down_up_keeps_state(dx_stack):
    first = json.loads(dx_stack("--json", "up", "--timeout", "120").stdout)
    assert first["deployment"]["deployed_now"] is True
    addresses = first["deployment"]["addresses"]
    assert {"Registry", "Market", "ComputeJobs", "Notary"} <= set(addresses)
    assert all(a["created"] for a in first["accounts"])
    states = _states(dx_stack)
    assert set(states.values()) == {"healthy"}, states
    assert set(states) == {"chain", "api", "anchorer", "node-0", "node-1", "node-2"}

    # `up` again while running changes nothing.
    again = json.loads(dx_stack("--json", "up").stdout)
    assert again["deployment"]["deployed_now"] is False

    # A listing made before the restart: admit a seller, register the cluster, publish a dataset.
    dx_stack("member", "admit", "tax-bureau", "--role", "provider")
    dx_stack("member", "admit", "regulator", "--role", "regulator")
    dx_stack("cluster", "register")
    data = dx_stack.data_dir.parent / "data"
    dx_stack("datagen", "--out", str(data), "--enterprises", "30", "--applicants", "10",
             "--loans-per-bank", "10", "--shared-borrowers", "2", "--blacklist", "3")
    listed = json.loads(dx_stack("--json", "dataset", "publish", str(data / "tax.csv"),
                                 "--schema", "enterprise_id,revenue,tax_paid", "--max-uses", "2",
                                 "--as", "tax-bureau").stdout)
    assert listed["rows"] == 30

    stopped = json.loads(dx_stack("--json", "down").stdout)["stopped"]
    assert set(stopped) == set(states)
    assert set(_states(dx_stack).values()) == {"stopped"}
    with pytest.raises(httpx.HTTPError):
        httpx.post(first["rpc_url"], json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=2)

    second = json.loads(dx_stack("--json", "up", "--timeout", "120").stdout)
    # Same chain state: the contracts are still there, so nothing is redeployed; same keys.
    assert second["deployment"]["deployed_now"] is False
    assert second["deployment"]["addresses"] == addresses
    assert not any(a["created"] for a in second["accounts"])
    assert [a["address"] for a in second["accounts"]] == [a["address"] for a in first["accounts"]]
    for address in addresses.values():
        assert len(_code_at(second["rpc_url"], address)) > 2
    assert set(_states(dx_stack).values()) == {"healthy"}

    # The listing is still there, with the same commitment, and the trail that recorded it verifies.
    shown = json.loads(dx_stack("--json", "dataset", "show", str(listed["dataset_id"])).stdout)
    assert shown["manifest_hash"] == listed["manifest_hash"]
    assert shown["status"] == "active" and shown["max_uses"] == 2
    verdict = json.loads(dx_stack("--json", "audit", "verify").stdout)
    assert verdict["ok"] is True and verdict["entries"] > 0 and verdict["checkpoints"] >= 1
    assert [f for f in verdict["findings"] if f["severity"] == "error"] == []

    # The exported log verifies offline too, with the notarizer's own CLI and only the chain.
    exported = dx_stack.data_dir.parent / "trail.jsonl"
    assert json.loads(dx_stack("--json", "audit", "export", "-o", str(exported)).stdout)["entries"] > 0
    offline = subprocess.run(
        [sys.executable, "-m", "notarizer.verify", "--rpc", second["rpc_url"], "--notary",
         addresses["Notary"], "--log", str(exported), "--json"],
        capture_output=True, text=True, env=dx_stack.env, timeout=120)
    assert offline.returncode == 0, offline.stderr[-2000:]
    assert json.loads(offline.stdout)["ok"] is True
