"""Share envelopes: seal a share to one X25519 key (ECDH + HKDF-SHA256 + AES-256-GCM), bound to its context.

Format of a sealed bundle (all integers big-endian):

    magic "DXE1" | ephemeral X25519 public key (32) | recipient key id (8) | nonce (12)
    | context length (2) | context (UTF-8) | AES-256-GCM ciphertext + tag (16)

- The sender draws a fresh ephemeral X25519 key per bundle; the shared secret goes through
  HKDF-SHA256 whose `info` binds the purpose (the context's first field, e.g. "dx-share/v1"), the
  ephemeral key and the recipient key, so a key derived for one purpose never opens another.
- The whole header (magic, both keys, nonce, context) is the GCM associated data: any flipped byte
  anywhere in a bundle makes it fail to open.
- The context is carried in clear so that a refusal says which binding was wrong. Contexts are
  built by `share_context` (input shares: "dx-share/v1|listing:<kind>:<label>|node:<i>") and
  `result_context` (output shares: "dx-result/v1|job:<id>|node:<i>"). Input shares are bound to the
  manifest's client-side *label* (a random nonce recorded in the manifest), not the listing id,
  because the listing id only exists after the listing transaction that commits to the manifest.
- `open_bundle` checks, in order: format, context (purpose, then each field), recipient key, then
  the GCM tag; each failure raises `EnvelopeError` whose `check` names the failed step.

Packed outputs (`pack_outputs`, the plaintext a node seals into its result bundle; the output client
unpacks it): b"DXOUT1", a u32 length, a canonical JSON header [{"name", "length", "sha256"}] in
output order, then the serialized shares.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dx_core.canonical import canonical_json

MAGIC = b"DXE1"
_KEY_LEN = 32
_KEY_ID_LEN = 8
_NONCE_LEN = 12
_TAG_LEN = 16
_FIXED = len(MAGIC) + _KEY_LEN + _KEY_ID_LEN + _NONCE_LEN + 2
SHARE_PURPOSE = "dx-share/v1"
RESULT_PURPOSE = "dx-result/v1"
GUARD_PURPOSE = "dx-guard-cohort/v1"


class EnvelopeError(Exception):
    """A bundle that cannot be opened; `check` names the step that failed."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"envelope check '{check}' failed: {message}")
        self.check = check


def public_bytes(key: X25519PublicKey | X25519PrivateKey) -> bytes:
    """The raw 32-byte public key of an X25519 key (private keys give their public half)."""
    if isinstance(key, X25519PrivateKey):
        key = key.public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: bytes) -> bytes:
    """An 8-byte fingerprint of a recipient public key, carried in the header."""
    return hashlib.sha256(b"dx-key-id|" + public).digest()[:_KEY_ID_LEN]


def share_context(kind: str, label: str, node: int) -> str:
    """The binding of an input share: listing kind, the manifest's label, node index."""
    return f"{SHARE_PURPOSE}|listing:{kind}:{label}|node:{node}"


def guard_context(manifest_hash: str, job_id: int, node: int) -> str:
    """A node's kept cohort share of one dataset for one job (mpc_compute/guard.py), sealed to itself."""
    return f"{GUARD_PURPOSE}|listing:dataset:{manifest_hash}|job:{job_id}|node:{node}"


def result_context(job_id: int, node: int) -> str:
    """The binding of an output share: job id and the node that produced it."""
    return f"{RESULT_PURPOSE}|job:{job_id}|node:{node}"


@dataclass(frozen=True)
class BundleHeader:
    ephemeral: bytes
    recipient_id: bytes
    nonce: bytes
    context: str
    header_bytes: bytes
    body_offset: int


def _derive_key(shared: bytes, purpose: str, ephemeral: bytes, recipient: bytes) -> bytes:
    info = b"dx-envelope/v1|" + purpose.encode() + b"|" + ephemeral + recipient
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


def _purpose(context: str) -> str:
    return context.split("|", 1)[0]


def seal(plaintext: bytes, recipient: bytes | X25519PublicKey, context: str) -> bytes:
    """Encrypt `plaintext` to the recipient's X25519 public key, bound to `context`."""
    recipient_pub = recipient if isinstance(recipient, bytes) else public_bytes(recipient)
    if len(recipient_pub) != _KEY_LEN:
        raise EnvelopeError("recipient", f"an X25519 public key has 32 bytes, got {len(recipient_pub)}")
    ctx = context.encode()
    if len(ctx) > 0xFFFF:
        raise EnvelopeError("context", "context longer than 65535 bytes")
    eph = X25519PrivateKey.generate()
    eph_pub = public_bytes(eph)
    shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient_pub))
    key = _derive_key(shared, _purpose(context), eph_pub, recipient_pub)
    nonce = os.urandom(_NONCE_LEN)
    header = MAGIC + eph_pub + key_id(recipient_pub) + nonce + struct.pack(">H", len(ctx)) + ctx
    return header + AESGCM(key).encrypt(nonce, plaintext, header)


def read_header(bundle: bytes) -> BundleHeader:
    """Parse a bundle's clear header; raises EnvelopeError('format') when it is not a bundle."""
    if len(bundle) < _FIXED + _TAG_LEN or bundle[: len(MAGIC)] != MAGIC:
        raise EnvelopeError("format", "not a DXE1 sealed bundle (bad magic or too short)")
    pos = len(MAGIC)
    eph = bundle[pos : pos + _KEY_LEN]
    pos += _KEY_LEN
    rid = bundle[pos : pos + _KEY_ID_LEN]
    pos += _KEY_ID_LEN
    nonce = bundle[pos : pos + _NONCE_LEN]
    pos += _NONCE_LEN
    (ctx_len,) = struct.unpack(">H", bundle[pos : pos + 2])
    pos += 2
    if len(bundle) < pos + ctx_len + _TAG_LEN:
        raise EnvelopeError("format", "bundle truncated inside its header")
    try:
        context = bundle[pos : pos + ctx_len].decode()
    except UnicodeDecodeError:
        raise EnvelopeError("context", "context is not valid UTF-8 (bundle altered)") from None
    pos += ctx_len
    return BundleHeader(eph, rid, nonce, context, bundle[:pos], pos)


def _check_context(found: str, expected: str) -> None:
    if found == expected:
        return
    got, want = found.split("|"), expected.split("|")
    if got[0] != want[0]:
        raise EnvelopeError("purpose", f"bundle is a '{got[0]}' envelope, expected '{want[0]}'")
    names = {"listing": "listing", "job": "job", "node": "node"}
    for g, w in zip(got[1:], want[1:], strict=False):
        if g != w:
            field = names.get(w.split(":", 1)[0], "context")
            raise EnvelopeError(field, f"bundle is bound to '{g}', expected '{w}'")
    raise EnvelopeError("context", f"bundle context '{found}' differs from expected '{expected}'")


def open_bundle(bundle: bytes, private_key: X25519PrivateKey, expected_context: str) -> bytes:
    """Decrypt a bundle sealed to `private_key` under `expected_context`, or raise EnvelopeError."""
    header = read_header(bundle)
    _check_context(header.context, expected_context)
    own_pub = public_bytes(private_key)
    if header.recipient_id != key_id(own_pub):
        mine = key_id(own_pub).hex()
        theirs = header.recipient_id.hex()
        raise EnvelopeError("key", f"bundle is sealed to key id {theirs}, this key's id is {mine}")
    try:
        eph_pub = X25519PublicKey.from_public_bytes(header.ephemeral)
        shared = private_key.exchange(eph_pub)
    except ValueError:
        raise EnvelopeError("integrity", "ephemeral key in the header is invalid (bundle altered)") from None
    key = _derive_key(shared, _purpose(header.context), header.ephemeral, own_pub)
    try:
        return AESGCM(key).decrypt(header.nonce, bundle[header.body_offset :], header.header_bytes)
    except InvalidTag:
        raise EnvelopeError("integrity", "authentication tag mismatch: bundle was altered") from None


_OUTPUT_MAGIC = b"DXOUT1"


def pack_outputs(outputs: dict[str, bytes]) -> bytes:
    """A node's output shares as one plaintext (sealed to the result receiver as a whole)."""
    header = canonical_json(
        [{"name": n, "length": len(v), "sha256": hashlib.sha256(v).hexdigest()} for n, v in outputs.items()]
    )
    return b"".join([_OUTPUT_MAGIC, struct.pack(">I", len(header)), header, *outputs.values()])


def unpack_outputs(data: bytes) -> dict[str, bytes]:
    """The output shares of a packed plaintext; ValueError when it is truncated or altered."""
    if data[: len(_OUTPUT_MAGIC)] != _OUTPUT_MAGIC:
        raise ValueError("not a packed output (bad magic)")
    (hlen,) = struct.unpack(">I", data[len(_OUTPUT_MAGIC) : len(_OUTPUT_MAGIC) + 4])
    pos = len(_OUTPUT_MAGIC) + 4
    header = json.loads(data[pos : pos + hlen])
    pos += hlen
    out = {}
    for item in header:
        value = data[pos : pos + item["length"]]
        if len(value) != item["length"] or hashlib.sha256(value).hexdigest() != item["sha256"]:
            raise ValueError(f"packed output {item['name']!r} is truncated or altered")
        out[item["name"]] = value
        pos += item["length"]
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} trailing bytes after the packed outputs")
    return out
