"""`dx up --chain ganache`: the same stack on Ganache, whose state also survives `dx down` / `dx up`."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.e2e


def test_ganache_stack_keeps_its_state(dx_stack):
    first = json.loads(dx_stack("--json", "up", "--chain", "ganache", "--timeout", "120").stdout)
    assert first["chain"] == "ganache" and first["deployment"]["deployed_now"] is True
    dx_stack("member", "admit", "telecom", "--role", "provider")
    dx_stack("down")
    # A plain `up` resumes the data dir's chain kind, with its state: no redeploy, the member is there.
    second = json.loads(dx_stack("--json", "up", "--timeout", "120").stdout)
    assert second["chain"] == "ganache" and second["deployment"]["deployed_now"] is False
    assert second["deployment"]["addresses"] == first["deployment"]["addresses"]
    members = {m["name"]: m for m in json.loads(dx_stack("--json", "member", "list").stdout)}
    assert members["telecom"]["roles"] == ["provider"]
    assert {s["state"] for s in json.loads(dx_stack("--json", "status").stdout)["services"]} == {"healthy"}
