"""Idempotency-Key on writes: the same key and body replay the response; another body is a 409."""

from __future__ import annotations

import pytest
from eth_account import Account

from tests.fixtures.api import sign_text, siwe_message

pytestmark = [pytest.mark.api, pytest.mark.database]
ALICE = Account.from_key("0x" + "a1" * 32)


def _login_body(client) -> dict:
    n = client.get("/v1/auth/nonce").json()
    text = siwe_message(ALICE, n["domain"], n["nonce"], n["chain_id"])
    return {"message": text, "signature": sign_text(ALICE, text)}


def test_same_key_same_body_replays_the_first_response(client) -> None:
    body = _login_body(client)
    first = client.post("/v1/auth/login", json=body, headers={"Idempotency-Key": "login-1"})
    assert first.status_code == 200
    # Without the key the nonce is spent; with it, the client gets the very same token back.
    again = client.post("/v1/auth/login", json=body, headers={"Idempotency-Key": "login-1"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert client.post("/v1/auth/login", json=body).status_code == 401


def test_same_key_other_body_is_a_conflict(client) -> None:
    first = client.post("/v1/auth/login", json=_login_body(client), headers={"Idempotency-Key": "k-2"})
    assert first.status_code == 200
    other = client.post("/v1/auth/login", json=_login_body(client), headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert "already used with a different request" in other.json()["detail"]


def test_error_responses_are_replayed_too(client) -> None:
    bad = {"message": "not siwe", "signature": "0x00"}
    a = client.post("/v1/auth/login", json=bad, headers={"Idempotency-Key": "k-3"})
    b = client.post("/v1/auth/login", json=bad, headers={"Idempotency-Key": "k-3"})
    assert a.status_code == b.status_code == 401 and a.json()["detail"] == b.json()["detail"]


def test_keys_are_scoped_per_caller(client, login) -> None:
    token = login(client, ALICE)
    bad = {"message": "not siwe", "signature": "0x00"}
    assert client.post("/v1/auth/login", json=bad, headers={"Idempotency-Key": "shared"}).status_code == 401
    other = {"message": "also not siwe", "signature": "0x00"}
    # Same key from another caller (another Authorization) is a different record, not a conflict.
    resp = client.post(
        "/v1/auth/login",
        json=other,
        headers={"Idempotency-Key": "shared", "Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 401
