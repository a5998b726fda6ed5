"""Where nodes and clients put and get blobs: a dx_core blob store, or the exchange API's blob routes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import httpx

from dx_core.blobstore import BlobMismatch, BlobNotFound, IpfsBlobStore, LocalBlobStore
from dx_core.cid import cid_for_bytes, digest_from_cid


class BlobSource(Protocol):
    """The two calls the compute side needs; `get` always checks content against the CID."""

    def put(self, data: bytes) -> str: ...

    def get(self, cid: str) -> bytes: ...


class HttpBlobStore:
    """Blobs through the exchange API: `PUT /v1/blobs` (raw body) -> {"cid"}, `GET /v1/blobs/{cid}`."""

    def __init__(self, api_url: str, token: str | None = None, timeout: float = 120.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=timeout)

    def put(self, data: bytes) -> str:
        resp = self._http.put("/v1/blobs", content=data, headers={"Content-Type": "application/octet-stream"})
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


def open_blob_source(location: str) -> BlobSource:
    """`http(s)://...` -> the exchange API; `ipfs+http://host:port` -> Kubo; otherwise a local directory."""
    if location.startswith("ipfs+"):
        return VerifiedStore(IpfsBlobStore(location.removeprefix("ipfs+")))
    if location.startswith(("http://", "https://")):
        return HttpBlobStore(location)
    return VerifiedStore(LocalBlobStore(Path(location.removeprefix("local:"))))
