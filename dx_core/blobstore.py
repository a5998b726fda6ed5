"""Content-addressed blob storage: one interface, a local-directory backend and an IPFS Kubo-RPC backend."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import httpx

from dx_core.cid import cid_from_digest, digest_from_cid
from dx_core.settings import Settings, get_settings

CHUNK = 1024 * 1024


class BlobError(Exception):
    """Base class of blob-store errors."""


class BlobNotFound(BlobError):
    """No blob with that CID is stored."""


class BlobTooLarge(BlobError):
    """An upload exceeded the configured size limit."""


class BlobMismatch(BlobError):
    """Content does not hash to the CID it was given under."""


class BlobStore(Protocol):
    """What every backend offers. Content is addressed by its CIDv1; `put` returns the CID."""

    def put_stream(self, chunks: Iterable[bytes], expected_cid: str | None = None) -> str: ...

    def open_stream(self, cid: str) -> Iterator[bytes]: ...

    def has(self, cid: str) -> bool: ...

    def size(self, cid: str) -> int: ...

    def delete(self, cid: str) -> None: ...


def iter_file(fh: BinaryIO, chunk: int = CHUNK) -> Iterator[bytes]:
    """Yield a binary file in chunks, so large blobs stream with bounded memory."""
    while block := fh.read(chunk):
        yield block


class LocalBlobStore:
    """Blobs as files named by CID under one directory; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path, max_bytes: int = 2 * 1024**3) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, cid: str) -> Path:
        digest_from_cid(cid)  # validates; a bad CID never becomes a path
        return self.root / cid[-2:] / cid

    def put(self, data: bytes, expected_cid: str | None = None) -> str:
        return self.put_stream([data], expected_cid)

    def put_stream(self, chunks: Iterable[bytes], expected_cid: str | None = None) -> str:
        if expected_cid is not None:
            digest_from_cid(expected_cid)
        hasher = hashlib.sha256()
        total = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                for block in chunks:
                    total += len(block)
                    if total > self.max_bytes:
                        raise BlobTooLarge(f"blob exceeds the {self.max_bytes}-byte limit")
                    hasher.update(block)
                    out.write(block)
            cid = cid_from_digest(hasher.digest())
            if expected_cid is not None and cid != expected_cid:
                raise BlobMismatch(f"content hashes to {cid}, not to the claimed {expected_cid}")
            dest = self._path(cid)
            dest.parent.mkdir(exist_ok=True)
            os.replace(tmp, dest)
            return cid
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get(self, cid: str) -> bytes:
        return b"".join(self.open_stream(cid))

    def open_stream(self, cid: str) -> Iterator[bytes]:
        path = self._path(cid)
        if not path.exists():
            raise BlobNotFound(f"no blob {cid} in {self.root}")
        return self._read(path)

    @staticmethod
    def _read(path: Path) -> Iterator[bytes]:
        with path.open("rb") as fh:
            yield from iter_file(fh)

    def has(self, cid: str) -> bool:
        return self._path(cid).exists()

    def size(self, cid: str) -> int:
        path = self._path(cid)
        if not path.exists():
            raise BlobNotFound(f"no blob {cid} in {self.root}")
        return path.stat().st_size

    def delete(self, cid: str) -> None:
        self._path(cid).unlink(missing_ok=True)


class IpfsBlobStore:
    """Blobs as raw IPFS blocks through a Kubo RPC endpoint (`/api/v0/block/*`).

    The CID is the same as the local backend's: CIDv1, raw codec, sha2-256 of the whole content.
    Kubo refuses blocks over 1 MiB unless `allow-big-block` is set, which this backend sets.
    """

    def __init__(self, api_url: str, max_bytes: int = 2 * 1024**3, timeout: float = 60.0) -> None:
        self.max_bytes = max_bytes
        self._http = httpx.Client(base_url=api_url.rstrip("/") + "/api/v0", timeout=timeout)

    def put(self, data: bytes, expected_cid: str | None = None) -> str:
        return self.put_stream([data], expected_cid)

    def put_stream(self, chunks: Iterable[bytes], expected_cid: str | None = None) -> str:
        data = bytearray()
        for block in chunks:
            data += block
            if len(data) > self.max_bytes:
                raise BlobTooLarge(f"blob exceeds the {self.max_bytes}-byte limit")
        cid = cid_from_digest(hashlib.sha256(data).digest())
        if expected_cid is not None and cid != expected_cid:
            raise BlobMismatch(f"content hashes to {cid}, not to the claimed {expected_cid}")
        resp = self._http.post(
            "/block/put",
            params={"cid-codec": "raw", "mhtype": "sha2-256", "allow-big-block": "true"},
            files={"file": ("blob", bytes(data))},
        )
        resp.raise_for_status()
        stored = resp.json().get("Key")
        if stored != cid:
            raise BlobMismatch(f"IPFS stored the blob as {stored}, expected {cid}")
        return cid

    def get(self, cid: str) -> bytes:
        return b"".join(self.open_stream(cid))

    def open_stream(self, cid: str) -> Iterator[bytes]:
        digest_from_cid(cid)
        resp = self._http.post("/block/get", params={"arg": cid})
        if resp.status_code != 200:
            raise BlobNotFound(f"IPFS has no block {cid}: {resp.text.strip()}")
        data = resp.content
        if hashlib.sha256(data).digest() != digest_from_cid(cid):
            raise BlobMismatch(f"IPFS returned content that does not hash to {cid}")
        return iter([data])

    def has(self, cid: str) -> bool:
        return self._http.post("/block/stat", params={"arg": cid, "offline": "true"}).status_code == 200

    def size(self, cid: str) -> int:
        resp = self._http.post("/block/stat", params={"arg": cid})
        if resp.status_code != 200:
            raise BlobNotFound(f"IPFS has no block {cid}")
        return int(resp.json()["Size"])

    def delete(self, cid: str) -> None:
        self._http.post("/block/rm", params={"arg": cid})


def open_blob_store(settings: Settings | None = None) -> LocalBlobStore | IpfsBlobStore:
    """The blob store the settings name (`blob_backend`: a local directory, or Kubo's RPC API)."""
    s = settings or get_settings()
    if s.blob_backend == "ipfs":
        return IpfsBlobStore(s.ipfs_api_url, s.max_blob_bytes)
    return LocalBlobStore(s.resolved_blob_dir, s.max_blob_bytes)


def blob_store_at(location: str, max_bytes: int | None = None) -> LocalBlobStore | IpfsBlobStore:
    """The store a location names: `ipfs+http://host:port` is Kubo; `local:PATH` or a path, a directory."""
    limit = max_bytes if max_bytes is not None else 2 * 1024**3
    if location.startswith("ipfs+"):
        return IpfsBlobStore(location.removeprefix("ipfs+"), limit)
    return LocalBlobStore(Path(location.removeprefix("local:")), limit)
