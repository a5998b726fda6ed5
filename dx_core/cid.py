"""Content identifiers: IPFS CIDv1 (raw codec, sha2-256 multihash, base32 multibase)."""

from __future__ import annotations

import base64
import hashlib

_CID_VERSION = 0x01
_RAW_CODEC = 0x55
_SHA2_256 = 0x12
_DIGEST_LEN = 0x20
_PREFIX = bytes([_CID_VERSION, _RAW_CODEC, _SHA2_256, _DIGEST_LEN])

# What a CID of ours looks like, for request validation (a regular expression, anchored).
CID_PATTERN = r"^b[a-z2-7]{58}$"


class InvalidCID(ValueError):
    """A string that is not a CIDv1 raw/sha2-256 identifier."""


def cid_from_digest(digest: bytes) -> str:
    """The CIDv1 string for content whose sha2-256 digest is `digest`."""
    if len(digest) != 32:
        raise InvalidCID(f"a sha2-256 digest has 32 bytes, got {len(digest)}")
    return "b" + base64.b32encode(_PREFIX + digest).decode().lower().rstrip("=")


def cid_for_bytes(data: bytes) -> str:
    """The CIDv1 of `data`, as `ipfs block put --cid-codec raw` would name it."""
    return cid_from_digest(hashlib.sha256(data).digest())


def digest_from_cid(cid: str) -> bytes:
    """The sha2-256 digest a CID commits to; raises InvalidCID with the reason when malformed."""
    if not isinstance(cid, str) or not cid.startswith("b"):
        raise InvalidCID(f"{cid!r} is not a base32 CIDv1 (it must start with 'b')")
    body = cid[1:].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError as exc:
        raise InvalidCID(f"{cid!r} is not valid base32: {exc}") from None
    if len(raw) != len(_PREFIX) + 32 or raw[: len(_PREFIX)] != _PREFIX:
        raise InvalidCID(f"{cid!r} is not a CIDv1 with raw codec and sha2-256 multihash")
    return raw[len(_PREFIX) :]


def is_cid(value: str) -> bool:
    """True when `value` parses as a CID this exchange issues."""
    try:
        digest_from_cid(value)
    except InvalidCID:
        return False
    return True
