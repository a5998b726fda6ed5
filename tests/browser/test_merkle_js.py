"""The console's WebCrypto Merkle verifier agrees with notarizer/proofs.py, under node and in Chromium."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.browser.merkle_vectors import make_vectors

pytestmark = pytest.mark.browser
HERE = Path(__file__).resolve().parent

_BROWSER_CHECK = """async (v) => {
  const m = await import('/console/static/merkle.js');
  const h = m.hexToBytes;
  const mismatches = [];
  for (const c of v.leaf_hash) {
    if (m.bytesToHex(await m.leafHash(h(c.data))) !== c.leaf) mismatches.push(['leaf', c.data]);
  }
  for (const c of v.inclusion) {
    const got = await m.verifyInclusion(c.index, c.size, h(c.leaf), c.proof.map(h), h(c.root));
    if (got !== c.expected) mismatches.push(['inclusion', c.index, c.size, c.expected]);
  }
  for (const c of v.consistency) {
    const got = await m.verifyConsistency(
      c.old_size, c.new_size, h(c.old_root), h(c.new_root), c.proof.map(h));
    if (got !== c.expected) mismatches.push(['consistency', c.old_size, c.new_size, c.expected]);
  }
  return {mismatches, inclusion: v.inclusion.length, consistency: v.consistency.length};
}"""


def test_vectors_cover_both_verdicts() -> None:
    v = make_vectors()
    for kind in ("inclusion", "consistency"):
        verdicts = {c["expected"] for c in v[kind]}
        assert verdicts == {True, False}, f"{kind} vectors need honest and tampered cases"


def test_merkle_js_under_node(tmp_path: Path, node_bin: str) -> None:
    vectors = tmp_path / "vectors.json"
    vectors.write_text(json.dumps(make_vectors()))
    run = subprocess.run([node_bin, "--test", str(HERE / "merkle.test.mjs")], capture_output=True, text=True,
                         env={"MERKLE_VECTORS": str(vectors), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "# pass 3" in run.stdout and "# fail 0" in run.stdout


def test_merkle_js_in_chromium(chromium, console_only_url: str) -> None:  # type: ignore[no-untyped-def]
    page = chromium.new_page()
    try:
        page.goto(f"{console_only_url}/console/static/favicon.svg")
        result = page.evaluate(_BROWSER_CHECK, make_vectors())
    finally:
        page.close()
    assert result["inclusion"] > 1000 and result["consistency"] > 1000
    assert result["mismatches"] == []


_CANONICAL_CHECK = """async (v) => {
  const c = await import('/console/static/canonical.js');
  const verify = await import('/console/static/verify.js');
  const m = await import('/console/static/merkle.js');
  const wrong = [];
  for (const p of v.payloads) {
    const got = c.canonicalJson(c.parseExact(p.served));
    if (got !== p.canonical) wrong.push({served: p.served, got, want: p.canonical});
  }
  for (const e of v.entries) {
    const leaf = m.bytesToHex(await m.leafHash(verify.entryLeafBytes(c.parseExact(e.served))));
    if (leaf !== e.leaf) wrong.push({served: e.served, got: leaf, want: e.leaf});
    const results = await verify.verifyEntries([c.parseExact(e.served)], new Map());
    if (results[0].problems.some((x) => x.includes('payload hashes to'))) wrong.push({payload: e.served});
  }
  return wrong;
}"""


def test_canonical_json_and_entry_leaves_match_the_notarizer(chromium, console_only_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.browser.merkle_vectors import make_entry_vectors

    page = chromium.new_page()
    try:
        page.goto(f"{console_only_url}/console/static/favicon.svg")
        wrong = page.evaluate(_CANONICAL_CHECK, make_entry_vectors())
    finally:
        page.close()
    assert wrong == []
