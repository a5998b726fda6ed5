"""Sign-In with Ethereum over TestClient: the happy path and every way a login must fail."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from sqlmodel import Session

from exchange_api.models import AuthToken
from tests.fixtures.api import sign_text, siwe_message

pytestmark = [pytest.mark.api, pytest.mark.database]
ALICE = Account.from_key("0x" + "a1" * 32)
MALLORY = Account.from_key("0x" + "b2" * 32)


def _nonce(client) -> dict:
    resp = client.get("/v1/auth/nonce")
    assert resp.status_code == 200
    return resp.json()


def _login(client, text: str, signature: str):
    return client.post("/v1/auth/login", json={"message": text, "signature": signature})


def test_login_gives_a_token_that_identifies_the_member(client) -> None:
    n = _nonce(client)
    assert n["domain"] == "testserver" and n["chain_id"] == 31337 and len(n["nonce"]) >= 8
    text = siwe_message(ALICE, n["domain"], n["nonce"], n["chain_id"])
    resp = _login(client, text, sign_text(ALICE, text))
    assert resp.status_code == 200, resp.text
    token = resp.json()["access_token"]
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["address"] == ALICE.address


def test_nonce_is_single_use(client) -> None:
    n = _nonce(client)
    text = siwe_message(ALICE, n["domain"], n["nonce"], n["chain_id"])
    assert _login(client, text, sign_text(ALICE, text)).status_code == 200
    replay = _login(client, text, sign_text(ALICE, text))
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]


def test_signature_by_another_key_is_refused(client) -> None:
    n = _nonce(client)
    text = siwe_message(ALICE, n["domain"], n["nonce"], n["chain_id"])
    resp = _login(client, text, sign_text(MALLORY, text))
    assert resp.status_code == 401
    assert f"signature does not verify for {ALICE.address}" in resp.json()["detail"]
    assert resp.headers["www-authenticate"] == "Bearer"


def test_expired_message_is_refused(client) -> None:
    n = _nonce(client)
    text = siwe_message(
        ALICE,
        n["domain"],
        n["nonce"],
        n["chain_id"],
        ttl=timedelta(minutes=1),
        issued=datetime.now(UTC) - timedelta(minutes=5),
    )
    resp = _login(client, text, sign_text(ALICE, text))
    assert resp.status_code == 401
    assert "expired" in resp.json()["detail"]


def test_wrong_domain_and_wrong_chain_are_refused(client) -> None:
    n = _nonce(client)
    text = siwe_message(ALICE, "evil.example", n["nonce"], n["chain_id"])
    resp = _login(client, text, sign_text(ALICE, text))
    assert resp.status_code == 401 and "domain 'evil.example'" in resp.json()["detail"]
    text = siwe_message(ALICE, n["domain"], n["nonce"], 1)
    resp = _login(client, text, sign_text(ALICE, text))
    assert resp.status_code == 401 and "chain id 1" in resp.json()["detail"]


def test_nonce_not_issued_here_is_refused(client) -> None:
    text = siwe_message(ALICE, "testserver", "madeUpNonce123", 31337)
    resp = _login(client, text, sign_text(ALICE, text))
    assert resp.status_code == 401 and "was not issued" in resp.json()["detail"]


def test_garbage_message_is_refused(client) -> None:
    resp = _login(client, "hello, let me in", "0x" + "00" * 65)
    assert resp.status_code == 401 and "not an EIP-4361 message" in resp.json()["detail"]


def test_unknown_malformed_and_expired_tokens(client, app, login) -> None:
    assert client.get("/v1/auth/me").status_code == 401
    assert "needs a bearer token" in client.get("/v1/auth/me").json()["detail"]
    resp = client.get("/v1/auth/me", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401 and "unknown bearer token" in resp.json()["detail"]
    resp = client.get("/v1/auth/me", headers={"Authorization": "Basic abc"})
    assert resp.status_code == 401 and "'Bearer <token>'" in resp.json()["detail"]
    token = login(client, ALICE)
    with Session(app.state.ctx.engine) as session:
        row = session.get(AuthToken, hashlib.sha256(token.encode()).hexdigest())
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(row)
        session.commit()
    resp = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and "expired" in resp.json()["detail"]
