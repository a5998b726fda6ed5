"""Idempotency-Key on writes: the same key and body replay the response; another body is a 409 (sign-in
is never stored: test_hardening_limits)."""

from __future__ import annotations

import pytest
from eth_account import Account

pytestmark = [pytest.mark.api, pytest.mark.database]
ALICE = Account.from_key("0x" + "a1" * 32)


def _track(client, body: dict, key: str, token: str | None = None):
    headers = {"Idempotency-Key": key}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/v1/tx/track", json=body, headers=headers)


# A body the route refuses (422) on a chain-less API: a deterministic answer that is stored and replayed.
BAD = {"tx_hash": "not a hash"}


def test_same_key_same_body_replays_the_first_response(client, login) -> None:
    token = login(client, ALICE)
    first = _track(client, BAD, "k-1", token)
    assert first.status_code == 422
    again = _track(client, BAD, "k-1", token)
    assert again.status_code == 422
    assert again.headers["idempotent-replayed"] == "true"
    # The very same document: it still carries the first request's id, not this one's.
    assert again.json() == first.json()
    assert again.json()["request_id"] == first.headers["x-request-id"] != again.headers["x-request-id"]


def test_same_key_other_body_is_a_conflict(client, login) -> None:
    token = login(client, ALICE)
    assert _track(client, BAD, "k-2", token).status_code == 422
    other = _track(client, {"tx_hash": "another bad hash"}, "k-2", token)
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert "already used with a different request" in other.json()["detail"]


def test_keys_are_scoped_per_caller(client, login) -> None:
    token = login(client, ALICE)
    assert _track(client, BAD, "shared").status_code == 401  # anonymous
    # Same key from another caller (another Authorization) is a different record, not a conflict.
    resp = _track(client, {"tx_hash": "also not a hash"}, "shared", token)
    assert resp.status_code == 422 and "idempotent-replayed" not in resp.headers
