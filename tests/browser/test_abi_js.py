"""The console's ABI decoder (abi.js) and CIDs (chain.js) agree with eth_abi and dx_core.cid, under node."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from eth_abi import encode

from contracts.artifacts import abi
from dx_core.cid import cid_from_digest

pytestmark = pytest.mark.browser
STATIC = Path(__file__).resolve().parents[2] / "exchange_api" / "web" / "static"

_SCRIPT = """
globalThis.document = { body: { dataset: {} } };
globalThis.localStorage = { getItem: () => null };
const abi = await import(process.argv[1] + "/abi.js");
const chain = await import(process.argv[1] + "/chain.js");
const v = JSON.parse(await new Promise((ok) => { let s = ""; process.stdin.on("data", (d) => s += d);
  process.stdin.on("end", () => ok(s)); }));
const plain = (x) => JSON.parse(JSON.stringify(x, (_k, y) => (typeof y === "bigint" ? y.toString() : y)));
const out = { decoded: v.cases.map((c) => plain(abi.decode(c.params, c.data))), truncated: [],
  cids: v.digests.map((d) => chain.cidFromDigest(d)) };
for (const c of v.cases) {
  try { abi.decode(c.params, c.data.slice(0, c.data.length - 64)); out.truncated.push("decoded"); }
  catch (err) { out.truncated.push(err instanceof abi.AbiError ? "refused" : err.message); }
}
console.log(JSON.stringify(out));
"""


def _types(params: list[dict]) -> list[str]:
    def one(p: dict) -> str:
        if p["type"].startswith("tuple"):
            return "(" + ",".join(one(c) for c in p["components"]) + ")" + p["type"][5:]
        return p["type"]
    return [one(p) for p in params]


def _value(p: dict, k: int):  # type: ignore[no-untyped-def]
    t = p["type"]
    if t.endswith("[]"):
        return [_value({**p, "type": t[:-2]}, k + i) for i in range(k % 3 + 1)]
    if t == "tuple":
        return tuple(_value(c, k + i) for i, c in enumerate(p["components"]))
    if t == "address":
        return "0x" + os.urandom(20).hex()
    if t == "bool":
        return k % 2 == 0
    if t == "string":
        return f"name-{k}-ü"
    if t.startswith("bytes"):
        return os.urandom(int(t[5:]))
    bits = int(t[4:] or 256) if t.startswith("uint") else 8
    return (k * 7919 + 3) % (2**bits)


def _expected(p: dict, value):  # type: ignore[no-untyped-def]
    t = p["type"]
    if t.endswith("[]"):
        return [_expected({**p, "type": t[:-2]}, x) for x in value]
    if t == "tuple":
        return {c["name"]: _expected(c, x) for c, x in zip(p["components"], value, strict=True)}
    if t == "address":
        return value.lower()
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, bool | str):
        return value
    return str(value)


def test_decoder_and_cids_match_python(node_bin) -> None:  # type: ignore[no-untyped-def]
    jobs, market = abi("ComputeJobs"), abi("Market")
    event = next(x for x in jobs if x.get("name") == "JobRequested")
    shapes = [[p for p in event["inputs"] if not p["indexed"]],
              next(x for x in market if x.get("name") == "dataset")["outputs"],
              next(x for x in market if x.get("name") == "algorithm")["outputs"]]
    cases, wanted = [], []
    for k, params in enumerate(shapes):
        values = [_value(p, k + i) for i, p in enumerate(params)]
        data = encode(_types(params), values)
        cases.append({"params": params, "data": "0x" + data.hex()})
        pairs = enumerate(zip(params, values, strict=True))
        wanted.append({p["name"] or str(i): _expected(p, v) for i, (p, v) in pairs})
    digests = [os.urandom(32) for _ in range(4)]
    run = subprocess.run([node_bin, "--input-type=module", "-e", _SCRIPT, str(STATIC)],
                         input=json.dumps({"cases": cases, "digests": [d.hex() for d in digests]}),
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["decoded"] == wanted
    assert got["cids"] == [cid_from_digest(d) for d in digests]
    # A reply cut short (a broken or lying RPC) is refused, never decoded into made-up values.
    assert got["truncated"] == ["refused"] * len(cases)
