"""Issue 11 (items 5, 6), attack first, on a chain-less API: the idempotency store keeps no token and
forgets, uploads are for members within a quota, unreferenced blobs are collected, rate limits, body caps,
expired nonces and tokens deleted, and a bound on what anonymous callers add to the transparency log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from dx_core.cid import cid_for_bytes
from dx_core.roles import Role
from dx_core.settings import Settings
from exchange_api.app import create_app
from exchange_api.db import make_engine, upgrade_head
from exchange_api.middleware.idempotency import IdempotencyMiddleware
from exchange_api.models import (
    Attestation,
    AuthNonce,
    AuthToken,
    BlobUpload,
    IdempotencyRecord,
    Job,
    Listing,
    Member,
)
from exchange_api.services.blob_gc import collect_garbage
from exchange_api.services.housekeeping import run_housekeeping
from notarizer.entry import Kind
from tests.fixtures.api import sign_text, siwe_message

pytestmark = [pytest.mark.api, pytest.mark.database]
ALICE = Account.from_key("0x" + "a1" * 32)
BOB = Account.from_key("0x" + "b3" * 32)
STRANGER = Account.from_key("0x" + "c5" * 32)
R = IdempotencyRecord.__table__


def _settings(tmp_path, database_url, **overrides) -> Settings:  # type: ignore[no-untyped-def]
    values = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "deployment_file": tmp_path / "no-deployment.json",
        "max_blob_bytes": 64 * 1024,
        "siwe_domain": "testserver",
        "chain_id": 31337,
        **overrides,
    }
    return Settings(**values)


def _admit(app, *accounts: LocalAccount) -> None:  # type: ignore[no-untyped-def]
    with Session(app.state.ctx.engine) as session:
        for account in accounts:
            session.add(Member(address=account.address, roles=int(Role.PROVIDER | Role.BUYER)))
        session.commit()


def _login_body(client: TestClient, account: LocalAccount) -> dict:
    n = client.get("/v1/auth/nonce").json()
    text = siwe_message(account, n["domain"], n["nonce"], n["chain_id"])
    return {"message": text, "signature": sign_text(account, text)}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _age(engine, table, column, delta: timedelta) -> None:  # type: ignore[no-untyped-def]
    """Move every row's timestamp `column` back by `delta` (what time would do)."""
    with Session(engine) as session:
        for row in session.exec(select(table)).scalars():  # type: ignore[call-overload]
            setattr(row, column, getattr(row, column) - delta)
            session.add(row)
        session.commit()


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c


# -- 5. the idempotency store ----------------------------------------------------------------------


def test_sign_in_with_an_idempotency_key_is_never_stored(app, client) -> None:
    body = _login_body(client, ALICE)
    first = client.post("/v1/auth/login", json=body, headers={"Idempotency-Key": "login-1"})
    assert first.status_code == 200
    token = first.json()["access_token"]
    with app.state.ctx.engine.connect() as conn:
        stored = conn.execute(select(R.c.path, R.c.body)).all()
    assert stored == [], "the sign-in response (a bearer token) was stored"
    # An attacker who learns the key and the signed message gets no token: the nonce is spent.
    again = client.post("/v1/auth/login", json=body, headers={"Idempotency-Key": "login-1"})
    assert again.status_code == 401 and token not in again.text
    assert "idempotent-replayed" not in again.headers


def test_a_response_holding_a_secret_is_not_stored(database_url) -> None:
    engine = make_engine(database_url)
    upgrade_head(engine)
    calls = []

    async def issue(request):  # type: ignore[no-untyped-def]
        calls.append(1)
        return JSONResponse({"session": {"access_token": f"secret-{len(calls)}"}})

    app = IdempotencyMiddleware(Starlette(routes=[Route("/v1/sessions", issue, methods=["POST"])]), engine)
    try:
        with TestClient(app) as c:
            a = c.post("/v1/sessions", json={}, headers={"Idempotency-Key": "s-1"})
            b = c.post("/v1/sessions", json={}, headers={"Idempotency-Key": "s-1"})
        assert a.status_code == b.status_code == 200
        assert len(calls) == 2, "the retry was answered from the store, secret included"
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(R)).scalar() == 0
    finally:
        engine.dispose()


def test_records_expire_and_expired_ones_are_deleted(app, client, login) -> None:
    token = login(client, ALICE)
    headers = {**_bearer(token), "Idempotency-Key": "old-key"}
    assert client.post("/v1/tx/track", json={"tx_hash": "bad"}, headers=headers).status_code == 422
    engine = app.state.ctx.engine
    _age(engine, IdempotencyRecord, "created_at", timedelta(hours=25))
    # Past the 24 h TTL the key is free: another body is processed, not a 409 against the old record.
    fresh = client.post("/v1/tx/track", json={"tx_hash": "other"}, headers=headers)
    assert fresh.status_code == 422 and "idempotent-replayed" not in fresh.headers
    with engine.connect() as conn:
        rows = conn.execute(select(R.c.request_hash)).all()
    assert len(rows) == 1  # the expired record went; the fresh one replaced it
    # The periodic purge deletes expired records nobody uses again.
    assert client.post("/v1/tx/track", json={"tx_hash": "x"}, headers={**headers, "Idempotency-Key": "k2"})
    _age(engine, IdempotencyRecord, "created_at", timedelta(hours=25))
    removed = run_housekeeping(app.state.ctx)
    assert removed["idempotency_records"] == 2
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(R)).scalar() == 0


# -- 6. uploads: members only, quota, garbage collection --------------------------------------------


def test_uploads_are_for_admitted_members_only(app, client, login) -> None:
    token = login(client, STRANGER)  # anyone can sign in; signing in admits nobody
    resp = client.put("/v1/blobs", content=b"junk" * 100, headers=_bearer(token))
    assert resp.status_code == 403 and resp.headers["content-type"] == "application/problem+json"
    assert "not an active member" in resp.json()["detail"]
    assert client.head(f"/v1/blobs/{cid_for_bytes(b'junk' * 100)}").status_code == 404


def test_a_member_past_its_quota_gets_a_413_naming_it(tmp_path, database_url, login) -> None:
    app = create_app(_settings(tmp_path, database_url, blob_quota_bytes=1000))
    _admit(app, ALICE, BOB)
    with TestClient(app) as c:
        alice, bob = _bearer(login(c, ALICE)), _bearer(login(c, BOB))
        assert c.put("/v1/blobs", content=b"a" * 600, headers=alice).status_code == 201
        over = c.put("/v1/blobs", content=b"b" * 600, headers=alice)
        assert over.status_code == 413, over.text
        problem = over.json()
        assert problem["type"].endswith("/blob-quota-exceeded")
        assert "blob quota of 1000 bytes" in problem["detail"] and "DX_BLOB_QUOTA_BYTES" in problem["detail"]
        assert problem["quota"] == {"name": "blob_quota_bytes", "limit": 1000, "used": 600, "requested": 600}
        # The declared size alone is enough to refuse before any byte is stored.
        assert c.put("/v1/blobs", content=b"c" * 2000, headers=alice).status_code == 413
        # The same content again costs nothing more; the quota is per member.
        assert c.put("/v1/blobs", content=b"a" * 600, headers=alice).status_code == 201
        assert c.put("/v1/blobs", content=b"b" * 600, headers=bob).status_code == 201


def test_unreferenced_blobs_are_collected_after_the_grace_period(tmp_path, database_url, login) -> None:
    app = create_app(_settings(tmp_path, database_url, blob_gc_grace_seconds=3600), run_housekeeping=False)
    _admit(app, ALICE)
    ctx = app.state.ctx
    with TestClient(app) as c:
        auth = _bearer(login(c, ALICE))

        def put(data: bytes) -> str:
            resp = c.put("/v1/blobs", content=data, headers=auth)
            assert resp.status_code == 201, resp.text
            return resp.json()["cid"]

        bundle = put(b"sealed share bundle")
        manifest = json.dumps({"nodes": [{"arrays": {"x": [{"cid": bundle, "rows": 3}]}}]}).encode()
        manifest_cid, metadata_cid = put(manifest), put(b'{"title": "tax"}')
        spec = b'{"spec": 1}'
        spec_cid, share_cid = put(spec), put(b"output share of node 0")
        orphan = put(b"uploaded, then never listed")
        _age(ctx.engine, BlobUpload, "created_at", timedelta(hours=2))
        recent = put(b"uploaded a minute ago, listing on its way")
    with Session(ctx.engine) as session:
        session.add(
            Listing(
                kind="dataset",
                listing_id=1,
                owner=ALICE.address,
                metadata_cid=metadata_cid,
                manifest_hash="0x" + hashlib.sha256(manifest).hexdigest(),
            )
        )
        session.add(Job(job_id=7, buyer=ALICE.address, param_hash="0x" + hashlib.sha256(spec).hexdigest()))
        share_hash = hashlib.sha256(b"output share of node 0").hexdigest()
        session.add(
            Attestation(
                job_id=7,
                node=ALICE.address,
                kind="result",
                output_share_hash=share_hash,
                tx_hash="0x" + "11" * 32,
                block_number=1,
            )
        )
        session.commit()

    assert collect_garbage(ctx) == [orphan]
    assert not ctx.blobs.has(orphan)
    for cid in (bundle, manifest_cid, metadata_cid, spec_cid, share_cid, recent):
        assert ctx.blobs.has(cid), cid
    with ctx.engine.connect() as conn:
        left = set(conn.execute(select(BlobUpload.cid)).scalars())
    assert orphan not in left and recent in left  # the orphan's bytes no longer count to the quota
    assert collect_garbage(ctx) == []


# -- 6. rate limits ----------------------------------------------------------------------------------


def test_sign_in_is_rate_limited_per_ip_across_workers(tmp_path, database_url) -> None:
    settings = _settings(tmp_path, database_url, rate_signin_per_minute=3)
    worker_a, worker_b = create_app(settings), create_app(settings)  # two workers, one database
    with (
        TestClient(worker_a, client=("203.0.113.7", 1)) as a,
        TestClient(worker_b, client=("203.0.113.7", 2)) as b,
    ):
        assert [a.get("/v1/auth/nonce").status_code for _ in range(2)] == [200, 200]
        assert b.get("/v1/auth/nonce").status_code == 200
        refused = b.get("/v1/auth/nonce")
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        problem = refused.json()
        assert problem["type"].endswith("/rate-limited")
        assert "'sign-in'" in problem["detail"] and "DX_RATE_SIGNIN_PER_MINUTE" in problem["detail"]
        assert problem["limit"] == {"name": "sign-in", "per": "client IP", "per_minute": 3}
        assert a.post("/v1/auth/login", json={"message": "x", "signature": "0x"}).status_code == 429
    with TestClient(worker_a, client=("198.51.100.9", 1)) as other_ip:
        assert other_ip.get("/v1/auth/nonce").status_code == 200


def test_uploads_and_relays_are_rate_limited_per_member(tmp_path, database_url, login) -> None:
    settings = _settings(tmp_path, database_url, rate_upload_per_minute=2, rate_relay_per_minute=2)
    app = create_app(settings)
    _admit(app, ALICE)
    with TestClient(app, client=("192.0.2.1", 1)) as one, TestClient(app, client=("192.0.2.2", 1)) as two:
        auth = _bearer(login(one, ALICE))
        assert one.put("/v1/blobs", content=b"1", headers=auth).status_code == 201
        assert two.put("/v1/blobs", content=b"2", headers=auth).status_code == 201
        # Another IP does not help: the member's own bucket is empty.
        third = two.put("/v1/blobs", content=b"3", headers=auth)
        assert third.status_code == 429 and third.json()["limit"]["per"] == "member"
        assert "'upload'" in third.json()["detail"] and "retry-after" in third.headers
        relay = {"raw_tx": "0x02"}
        assert [one.post("/v1/tx/relay", json=relay, headers=auth).status_code for _ in range(2)] == [
            503,
            503,
        ]
        refused = two.post("/v1/tx/relay", json=relay, headers=auth)
        assert refused.status_code == 429 and refused.json()["limit"]["name"] == "relay"


# -- 6. body caps ------------------------------------------------------------------------------------


def test_every_route_caps_its_body_and_blobs_keep_their_own_cap(tmp_path, database_url, login) -> None:
    app = create_app(_settings(tmp_path, database_url, max_body_bytes=4096))
    _admit(app, ALICE)
    big = {"message": "x" * 10_000, "signature": "0x00"}
    with TestClient(app) as c:
        resp = c.post("/v1/auth/login", json=big)  # no Idempotency-Key
        assert resp.status_code == 413 and resp.headers["content-type"] == "application/problem+json"
        assert "4096-byte request body limit" in resp.json()["detail"]
        assert "DX_MAX_BODY_BYTES" in resp.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
            yield b'{"tx_hash": "'
            for _ in range(10):
                yield b"0" * 1024
            yield b'"}'

        auth = _bearer(login(c, ALICE))
        assert c.post("/v1/tx/track", content=chunks(), headers=auth).status_code == 413
        # A blob above the body cap but within the blob limit is fine.
        assert c.put("/v1/blobs", content=b"z" * 20_000, headers=auth).status_code == 201


# -- 6. expiry of nonces and tokens ------------------------------------------------------------------


def test_expired_nonces_and_tokens_are_deleted_on_use_and_periodically(app, client, login) -> None:
    engine = app.state.ctx.engine
    body = _login_body(client, ALICE)
    _age(engine, AuthNonce, "issued_at", timedelta(minutes=11))
    resp = client.post("/v1/auth/login", json=body)
    assert resp.status_code == 401 and "expired" in resp.json()["detail"]
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(AuthNonce)).one()[0] == 0  # type: ignore[call-overload]

    token = login(client, ALICE)
    with Session(engine) as session:
        session.exec(update(AuthToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))  # type: ignore[call-overload]
        session.commit()
    assert client.get("/v1/auth/me", headers=_bearer(token)).status_code == 401
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(AuthToken)).one()[0] == 0  # type: ignore[call-overload]

    # Nobody comes back for these: the periodic purge deletes them.
    login(client, ALICE)
    client.get("/v1/auth/nonce")  # issued, never used
    _age(engine, AuthNonce, "issued_at", timedelta(minutes=11))
    with Session(engine) as session:
        session.exec(update(AuthToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))  # type: ignore[call-overload]
        session.commit()
    removed = run_housekeeping(app.state.ctx)
    # The nonces of the two sign-ins above (used) and the unused one; the token expired in the meantime.
    assert (removed["nonces"], removed["tokens"]) == (3, 1)


# -- 6. anonymous callers and the transparency log ---------------------------------------------------


def test_anonymous_requests_add_a_bounded_number_of_log_entries(tmp_path, database_url, login) -> None:
    app = create_app(_settings(tmp_path, database_url, notary_anonymous_per_minute=5))
    ctx = app.state.ctx
    with TestClient(app, client=("203.0.113.50", 1)) as c:
        for _ in range(40):
            c.get("/v1/catalog/datasets")
        token = login(c, ALICE)  # two anonymous requests more (nonce, login): past the bound
        for _ in range(10):
            c.get("/v1/auth/me", headers=_bearer(token))
        ctx.notary.flush()
    entries = ctx.log.entries(kind=Kind.API_REQUEST, limit=None)
    anonymous = [e for e in entries if e.actor == "anonymous"]
    assert len(anonymous) == 5, "an outsider grew the transparency log past the bound"
    assert len([e for e in entries if e.actor == ALICE.address.lower()]) == 10  # members: every request
