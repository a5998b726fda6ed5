"""Where nodes and clients put and get blobs: a dx_core blob store, or the exchange API's blob routes."""

from __future__ import annotations

import hashlib
from typing import Protocol

import httpx
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from dx_core.blobstore import BlobMismatch, BlobNotFound, IpfsBlobStore, LocalBlobStore, blob_store_at
from dx_core.cid import cid_for_bytes, digest_from_cid
from dx_core.siwe import sign_in_message


class BlobSource(Protocol):
    """The two calls the compute side needs; `get` always checks content against the CID."""

    def put(self, data: bytes) -> str: ...

    def get(self, cid: str) -> bytes: ...


class HttpBlobStore:
    """Blobs through the exchange API: `PUT /v1/blobs` (raw body) -> {"cid"}, `GET /v1/blobs/{cid}`.

    Uploads need a signed-in member: give `token`, or `account` to sign in with Ethereum (EIP-4361:
    GET /v1/auth/nonce, POST /v1/auth/login) on the first upload and again when the token expires.
    """

    def __init__(
        self,
        api_url: str,
        token: str | None = None,
        account: LocalAccount | None = None,
        timeout: float = 120.0,
    ) -> None:
        self._http = httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout)
        self._token, self._account = token, account

    def _login(self) -> str:
        n = self._http.get("/v1/auth/nonce")
        n.raise_for_status()
        info = n.json()
        message = sign_in_message(info["domain"], self._account.address, info["nonce"], int(info["chain_id"]))
        signature = self._account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
        resp = self._http.post("/v1/auth/login", json={"message": message, "signature": signature})
        resp.raise_for_status()
        self._token = resp.json()["access_token"]
        return self._token

    def _put_once(self, data: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/octet-stream"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return self._http.put("/v1/blobs", content=data, headers=headers)

    def put(self, data: bytes) -> str:
        if self._token is None and self._account is not None:
            self._login()
        resp = self._put_once(data)
        if resp.status_code == 401 and self._account is not None:
            self._login()
            resp = self._put_once(data)
        resp.raise_for_status()
        cid = resp.json()["cid"]
        if cid != cid_for_bytes(data):
            raise BlobMismatch(
                f"the exchange stored the blob as {cid}, its content hashes to {cid_for_bytes(data)}"
            )
        return cid

    def get(self, cid: str) -> bytes:
        digest = digest_from_cid(cid)
        resp = self._http.get(f"/v1/blobs/{cid}")
        if resp.status_code == 404:
            raise BlobNotFound(f"the exchange has no blob {cid}")
        resp.raise_for_status()
        if hashlib.sha256(resp.content).digest() != digest:
            raise BlobMismatch(f"the exchange returned content that does not hash to {cid}")
        return resp.content

    def close(self) -> None:
        self._http.close()


class VerifiedStore:
    """Wraps a dx_core store so that `get` re-checks the content hash (a local file can be altered)."""

    def __init__(self, store: LocalBlobStore | IpfsBlobStore) -> None:
        self.store = store

    def put(self, data: bytes) -> str:
        return self.store.put(data)

    def get(self, cid: str) -> bytes:
        data = self.store.get(cid)
        if hashlib.sha256(data).digest() != digest_from_cid(cid):
            raise BlobMismatch(f"stored blob {cid} does not hash to its CID (altered on disk)")
        return data


def open_blob_source(location: str, account: LocalAccount | None = None) -> BlobSource:
    """`http(s)://...` -> the exchange API (uploads signed in as `account`); anything else is a dx_core
    store location (`ipfs+http://host:port` -> Kubo, `local:PATH` or a path -> a directory)."""
    if location.startswith(("http://", "https://")):
        return HttpBlobStore(location, account=account)
    return VerifiedStore(blob_store_at(location))
