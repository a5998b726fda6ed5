"""The entry encoding others reimplement (browser console, outside verifiers), pinned by known answers."""

from __future__ import annotations

import hashlib

import pytest

from notarizer.entry import (
    InvalidEntry,
    Kind,
    LogEntry,
    canonical_payload,
    chain_event_ref,
    check_kind,
    entry_leaf_bytes,
    normalize_actor,
    payload_digest,
)


def test_canonical_payload_sorts_keys_drops_spaces_and_keeps_utf8() -> None:
    assert (
        canonical_payload({"b": 1, "a": [1, {"d": None, "c": "é"}]})
        == '{"a":[1,{"c":"é","d":null}],"b":1}'.encode()
    )
    with pytest.raises(InvalidEntry, match="not canonical-JSON serializable"):
        canonical_payload({"x": float("inf")})
    assert payload_digest({"b": 1, "a": 2}) == hashlib.sha256(b'{"a":2,"b":1}').hexdigest()


def test_leaf_bytes_known_answer() -> None:
    leaf = entry_leaf_bytes(
        7, 1_700_000_000_000_000, "system", "job.authorized", ["job:7", "dataset:3"], "ab" * 32
    )
    assert leaf == (
        b'{"actor":"system","kind":"job.authorized","payload_hash":"'
        + b"ab" * 32
        + b'","seq":7,"subjects":["job:7","dataset:3"],"time":1700000000000000}'
    )
    entry = LogEntry(7, 1_700_000_000_000_000, "system", "job.authorized", ("job:7", "dataset:3"), "ab" * 32)
    assert entry.computed_leaf_hash() == hashlib.sha256(b"\x00" + leaf).digest()
    assert entry.time.isoformat() == "2023-11-14T22:13:20+00:00"
    assert LogEntry.from_json(entry.to_json()) == entry


def test_kinds_actors_and_chain_references() -> None:
    assert check_kind(Kind.NODE_DESTRUCTION) == "node.destruction"
    assert check_kind("job.custom_step") == "job.custom_step"
    with pytest.raises(InvalidEntry, match=r"unknown entry kind 'payment\.sent'"):
        check_kind("payment.sent")
    assert normalize_actor("0x" + "AB" * 20) == "0x" + "ab" * 20 and normalize_actor("system") == "system"
    assert chain_event_ref(bytes(range(32)), 3, "JobAuthorized") == {
        "event": "JobAuthorized",
        "log_index": 3,
        "tx_hash": "0x" + bytes(range(32)).hex(),
    }
    with pytest.raises(InvalidEntry, match="malformed exported entry"):
        LogEntry.from_json({"seq": 1})
