"""`dx up` / `dx down` / `dx up`: the stack comes back with its chain state, deployment and keys."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from dx import datagen

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
    dx_stack("member", "admit", "bank-a", "--role", "buyer")
    dx_stack("member", "admit", "model-vendor", "--role", "algorithm-provider")
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

    # The dataset's signed trail bundle verifies offline too, with the notarizer's own CLI and only
    # the chain. (A bundle pins its checkpoint; a full-log export races the anchorer's next round.)
    exported = dx_stack.data_dir.parent / "dataset-bundle.json"
    bundle = json.loads(dx_stack("--json", "audit", "export", "--dataset", str(listed["dataset_id"]),
                                 "-o", str(exported)).stdout)
    assert bundle["subject"]
    offline = subprocess.run(
        [sys.executable, "-m", "notarizer.cli", "--rpc", second["rpc_url"], "--notary",
         addresses["Notary"], "--bundle", str(exported), "--json"],
        capture_output=True, text=True, env=dx_stack.env, timeout=120)
    assert offline.returncode == 0, offline.stderr[-2000:]
    assert json.loads(offline.stdout)["ok"] is True

    # The listing is usable too: through the CLI the buyer finds it, requests a job, both owners
    # approve, the nodes run it on the shares stored before the restart, the buyer reconstructs.
    algorithm = json.loads(dx_stack("--json", "algorithm", "publish", "joint_stats").stdout)["algorithm_id"]
    found = json.loads(dx_stack("--json", "catalog", "search", "tax", "--as", "bank-a").stdout)
    assert any(item["id"] == listed["dataset_id"] and item["kind"] == "dataset" for item in found)
    job = json.loads(dx_stack("--json", "job", "request", "-a", str(algorithm),
                              "-d", f"data_0={listed['dataset_id']}", "--as", "bank-a").stdout)["job_id"]
    pending = json.loads(dx_stack("--json", "requests", "--as", "tax-bureau").stdout)
    assert [j["id"] for j in pending] == [job]
    dx_stack("approve", str(job), "--as", "tax-bureau")
    dx_stack("approve", str(job), "--as", "model-vendor")
    done = json.loads(dx_stack("--json", "job", "status", str(job), "--watch", "--as", "bank-a").stdout)
    assert done["status"] == "completed"
    assert [n["status"] for n in done["nodes"]] == ["succeeded"] * 3
    out = dx_stack.data_dir.parent / "result.json"
    dx_stack("job", "result", str(job), "-o", str(out), "--as", "bank-a")
    result = json.loads(out.read_text())["outputs"]
    tax = datagen.generate(7, datagen.Sizes(30, 10, 10, 2, 3)).tables["tax"].numeric(["revenue", "tax_paid"])
    assert result["count"] == pytest.approx(30, abs=0.01)
    assert result["mean"] == pytest.approx(tax.mean(0).tolist(), rel=1e-3, abs=1e-3)
    # Someone else's key cannot open the result shares.
    other = dx_stack("job", "result", str(job), "-o", str(out) + ".x", "--as", "tax-bureau", check=False)
    assert other.returncode != 0 and other.stderr.startswith("error: ")
