"""The local blob store: content addressing, streaming, limits and integrity checks."""

import pytest

from dx_core.blobstore import BlobMismatch, BlobNotFound, BlobTooLarge, LocalBlobStore
from dx_core.cid import cid_for_bytes


def test_put_get_round_trip(tmp_path) -> None:
    store = LocalBlobStore(tmp_path)
    cid = store.put(b"share bytes")
    assert cid == cid_for_bytes(b"share bytes")
    assert store.get(cid) == b"share bytes"
    assert store.has(cid) and store.size(cid) == len(b"share bytes")


def test_streamed_put_equals_whole_put(tmp_path) -> None:
    store = LocalBlobStore(tmp_path)
    chunks = [bytes([i]) * 1000 for i in range(50)]
    cid = store.put_stream(iter(chunks))
    assert cid == cid_for_bytes(b"".join(chunks))
    assert b"".join(store.open_stream(cid)) == b"".join(chunks)


def test_expected_cid_mismatch_is_refused_and_nothing_is_kept(tmp_path) -> None:
    store = LocalBlobStore(tmp_path)
    claimed = cid_for_bytes(b"what the uploader claimed")
    with pytest.raises(BlobMismatch, match="not to the claimed"):
        store.put(b"what was actually sent", expected_cid=claimed)
    assert not store.has(claimed)
    assert not store.has(cid_for_bytes(b"what was actually sent"))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_size_limit(tmp_path) -> None:
    store = LocalBlobStore(tmp_path, max_bytes=10)
    with pytest.raises(BlobTooLarge, match="10-byte limit"):
        store.put_stream(iter([b"12345", b"678901"]))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_missing_blob(tmp_path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(BlobNotFound):
        store.get(cid_for_bytes(b"never stored"))


def test_delete(tmp_path) -> None:
    store = LocalBlobStore(tmp_path)
    cid = store.put(b"x")
    store.delete(cid)
    assert not store.has(cid)
