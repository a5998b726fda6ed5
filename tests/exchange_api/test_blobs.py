"""Blob routes over TestClient: round trip, HEAD, size limit, CID mismatch, bad CIDs, auth."""

from __future__ import annotations

import pytest
from eth_account import Account
from sqlmodel import Session

from dx_core.cid import cid_for_bytes
from dx_core.roles import Role
from exchange_api.models import Member

pytestmark = [pytest.mark.api, pytest.mark.database]
ALICE = Account.from_key("0x" + "a1" * 32)


@pytest.fixture
def auth(app, client, login) -> dict:
    # Uploads are for admitted members: without a chain, the API reads roles from its member table.
    with Session(app.state.ctx.engine) as session:
        session.add(Member(address=ALICE.address, roles=int(Role.PROVIDER)))
        session.commit()
    return {"Authorization": f"Bearer {login(client, ALICE)}"}


def test_upload_download_and_head(client, auth) -> None:
    data = bytes(range(256)) * 100
    resp = client.put("/v1/blobs", content=data, headers=auth)
    assert resp.status_code == 201
    assert resp.json() == {"cid": cid_for_bytes(data), "size": len(data)}
    cid = resp.json()["cid"]
    got = client.get(f"/v1/blobs/{cid}")
    assert got.status_code == 200 and got.content == data
    head = client.head(f"/v1/blobs/{cid}")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))


def test_expected_cid_must_match_the_content(client, auth) -> None:
    claimed = cid_for_bytes(b"something else")
    resp = client.put("/v1/blobs", content=b"actual content", headers={**auth, "X-Expected-CID": claimed})
    assert resp.status_code == 422
    assert f"not to the claimed {claimed}" in resp.json()["detail"]
    assert client.head(f"/v1/blobs/{cid_for_bytes(b'actual content')}").status_code == 404
    ok = client.put(
        "/v1/blobs",
        content=b"actual content",
        headers={**auth, "X-Expected-CID": cid_for_bytes(b"actual content")},
    )
    assert ok.status_code == 201


def test_oversized_upload_is_refused(client, auth) -> None:
    resp = client.put("/v1/blobs", content=b"x" * (64 * 1024 + 1), headers=auth)
    assert resp.status_code == 413
    assert "65536-byte blob limit" in resp.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(70):
            yield b"y" * 1024

    resp = client.put("/v1/blobs", content=chunks(), headers=auth)
    assert resp.status_code == 413


def test_unknown_and_malformed_cids(client, auth) -> None:
    missing = cid_for_bytes(b"never stored")
    resp = client.get(f"/v1/blobs/{missing}")
    assert resp.status_code == 404 and missing in resp.json()["detail"]
    resp = client.get("/v1/blobs/not-a-cid")
    assert resp.status_code == 400 and "not a base32 CIDv1" in resp.json()["detail"]
    resp = client.put("/v1/blobs", content=b"z", headers={**auth, "X-Expected-CID": "bogus"})
    assert resp.status_code == 400


def test_upload_needs_sign_in_and_a_body(client, auth) -> None:
    assert client.put("/v1/blobs", content=b"data").status_code == 401
    resp = client.put("/v1/blobs", content=b"", headers=auth)
    assert resp.status_code == 400 and "empty body" in resp.json()["detail"]
