"""CIDv1 encoding: matches IPFS's own naming of raw blocks and rejects malformed identifiers."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dx_core.cid import InvalidCID, cid_for_bytes, cid_from_digest, digest_from_cid, is_cid


def test_known_answer_matches_ipfs_raw_block() -> None:
    # `ipfs block put --cid-codec raw --mhtype sha2-256` of the bytes "hello world"
    assert cid_for_bytes(b"hello world") == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"


def test_empty_content_has_the_well_known_cid() -> None:
    assert cid_for_bytes(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


@given(st.binary(max_size=512))
def test_round_trip(data: bytes) -> None:
    cid = cid_for_bytes(data)
    assert is_cid(cid)
    assert digest_from_cid(cid) == hashlib.sha256(data).digest()
    assert cid_from_digest(digest_from_cid(cid)) == cid


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "Qmfoo",
        "bafy",
        "b" + "a" * 58,
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5",
        "b!!!",
    ],
)
def test_malformed_cids_are_rejected_with_a_reason(bad: str) -> None:
    assert not is_cid(bad)
    with pytest.raises(InvalidCID):
        digest_from_cid(bad)


def test_digest_must_be_32_bytes() -> None:
    with pytest.raises(InvalidCID, match="32 bytes"):
        cid_from_digest(b"short")
