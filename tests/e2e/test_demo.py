"""`dx demo --small` through the real entry point: every scene's result and the regulator's verdict."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.e2e

EXPECTED = {
    "joint statistics": "ok",
    "max uses enforced": "refused",
    "declined job never runs": "declined",
}


@pytest.fixture(scope="module")
def demo_doc(tmp_path_factory):
    from tests.e2e.conftest import make_runner

    dx = make_runner(tmp_path_factory.mktemp("demo"))
    try:
        proc = dx("--json", "demo", "--small", "--stop", timeout=420, check=False)
    finally:
        dx("down", check=False)
    assert proc.returncode == 0, (
        f"dx demo exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return json.loads(proc.stdout)


def test_every_scene_played_with_the_expected_outcome(demo_doc):
    outcomes = {s["scene"]: s for s in demo_doc["scenes"]}
    assert {name: s["status"] for name, s in outcomes.items()} == EXPECTED, [
        (s["scene"], s["error"]) for s in demo_doc["scenes"] if s["status"] in {"skipped", "failed"}]
    assert demo_doc["not_available"] == []


def test_joint_statistics_match_plaintext(demo_doc):
    s = next(s for s in demo_doc["scenes"] if s["scene"] == "joint statistics")
    assert s["result"]["count"] == pytest.approx(s["plaintext"]["count"], abs=0.01)
    assert s["result"]["mean"] == pytest.approx(s["plaintext"]["mean"], rel=1e-3, abs=1e-3)
    assert s["result"]["variance"] == pytest.approx(s["plaintext"]["variance"], rel=1e-2, abs=1e-2)
    assert s["job_id"] >= 1


def test_over_use_is_refused_and_uses_stop_at_the_limit(demo_doc):
    s = next(s for s in demo_doc["scenes"] if s["scene"] == "max uses enforced")
    assert s["result"]["refused"].startswith("refused")
    assert s["result"]["job_status"] != "authorized"
    assert s["result"]["uses"] == s["plaintext"]["max_uses"] == 1
    assert demo_doc["audit"]["usage"]["loans_bank_b"]["uses"] == 1


def test_declined_job_never_reached_a_node(demo_doc):
    s = next(s for s in demo_doc["scenes"] if s["scene"] == "declined job never runs")
    assert s["result"] == {"status": "declined", "nodes_started": []}


def test_regulator_verifies_the_whole_trail(demo_doc):
    audit = demo_doc["audit"]
    assert audit["ok"] is True
    report = audit["report"]
    assert report["entries"] > 50
    assert [f for f in report["findings"] if f["severity"] == "error"] == []
    # Metered usage: every dataset the scenes used shows its uses, the unused ones zero.
    usage = audit["usage"]
    assert usage["tax"]["uses"] >= 1
    assert usage["telecom"]["uses"] == 0  # only the declined job named it
