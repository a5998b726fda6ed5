"""Envelope sealing: round trip, and refusal (naming the check) for every kind of wrong bundle."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dx_core import keystore
from mpc_compute.envelope import (
    EnvelopeError,
    key_id,
    open_bundle,
    public_bytes,
    read_header,
    result_context,
    seal,
    share_context,
)

pytestmark = pytest.mark.mpc

PAYLOAD = bytes(range(256)) * 40


@pytest.fixture(scope="module")
def node_keys() -> list[X25519PrivateKey]:
    return [X25519PrivateKey.generate() for _ in range(3)]


def test_round_trip(node_keys):
    ctx = share_context("dataset", "a1b2", 1)
    bundle = seal(PAYLOAD, public_bytes(node_keys[1]), ctx)
    assert open_bundle(bundle, node_keys[1], ctx) == PAYLOAD
    assert read_header(bundle).context == ctx
    assert PAYLOAD[:64] not in bundle


def test_each_seal_is_fresh(node_keys):
    ctx = share_context("dataset", "a1b2", 0)
    assert seal(PAYLOAD, public_bytes(node_keys[0]), ctx) != seal(PAYLOAD, public_bytes(node_keys[0]), ctx)


def test_wrong_key_is_refused(node_keys):
    ctx = share_context("dataset", "a1b2", 0)
    bundle = seal(PAYLOAD, public_bytes(node_keys[0]), ctx)
    with pytest.raises(EnvelopeError) as err:
        open_bundle(bundle, node_keys[2], ctx)
    assert err.value.check == "key"


def test_wrong_key_with_forged_key_id_fails_integrity(node_keys):
    ctx = share_context("dataset", "a1b2", 0)
    bundle = bytearray(seal(PAYLOAD, public_bytes(node_keys[0]), ctx))
    bundle[36:44] = key_id(public_bytes(node_keys[2]))
    with pytest.raises(EnvelopeError) as err:
        open_bundle(bytes(bundle), node_keys[2], ctx)
    assert err.value.check == "integrity"


def test_wrong_node_is_refused(node_keys):
    bundle = seal(PAYLOAD, public_bytes(node_keys[0]), share_context("dataset", "a1b2", 0))
    with pytest.raises(EnvelopeError) as err:
        open_bundle(bundle, node_keys[0], share_context("dataset", "a1b2", 1))
    assert err.value.check == "node"
    assert "node:0" in str(err.value) and "node:1" in str(err.value)


def test_wrong_listing_is_refused(node_keys):
    bundle = seal(PAYLOAD, public_bytes(node_keys[0]), share_context("dataset", "a1b2", 0))
    with pytest.raises(EnvelopeError) as err:
        open_bundle(bundle, node_keys[0], share_context("dataset", "ffff", 0))
    assert err.value.check == "listing"
    with pytest.raises(EnvelopeError) as err:
        open_bundle(bundle, node_keys[0], share_context("model", "a1b2", 0))
    assert err.value.check == "listing"


def test_share_bundle_is_not_a_result(node_keys):
    bundle = seal(PAYLOAD, public_bytes(node_keys[0]), share_context("dataset", "a1b2", 0))
    with pytest.raises(EnvelopeError) as err:
        open_bundle(bundle, node_keys[0], result_context(7, 0))
    assert err.value.check == "purpose"


def test_wrong_job_is_refused(node_keys):
    bundle = seal(PAYLOAD, public_bytes(node_keys[0]), result_context(7, 2))
    with pytest.raises(EnvelopeError) as err:
        open_bundle(bundle, node_keys[0], result_context(8, 2))
    assert err.value.check == "job"


@pytest.mark.parametrize("position", [0, 5, 40, 50, 60, 70, 200, -1, -20])
def test_any_flipped_byte_is_refused(node_keys, position):
    ctx = share_context("dataset", "a1b2", 0)
    bundle = bytearray(seal(PAYLOAD, public_bytes(node_keys[0]), ctx))
    bundle[position] ^= 0x01
    with pytest.raises(EnvelopeError) as err:
        open_bundle(bytes(bundle), node_keys[0], ctx)
    assert err.value.check in {"format", "integrity", "key", "listing", "node", "purpose", "context"}


def test_flipped_ciphertext_byte_names_integrity(node_keys):
    ctx = share_context("dataset", "a1b2", 0)
    bundle = bytearray(seal(PAYLOAD, public_bytes(node_keys[0]), ctx))
    bundle[len(bundle) // 2] ^= 0x80
    with pytest.raises(EnvelopeError, match="integrity"):
        open_bundle(bytes(bundle), node_keys[0], ctx)


def test_truncated_bundle_is_refused(node_keys):
    with pytest.raises(EnvelopeError) as err:
        open_bundle(b"DXE1" + b"\0" * 10, node_keys[0], share_context("dataset", "x", 0))
    assert err.value.check == "format"


def test_keystore_round_trip(tmp_path):
    ident = keystore.create()
    path = keystore.save(ident, tmp_path / "k.json", "pw", scrypt_n=2**12)
    text = path.read_text()
    assert ident.account.key.hex()[2:] not in text
    loaded = keystore.load(path, "pw")
    assert loaded.address == ident.address
    assert loaded.x25519_public == ident.x25519_public
    assert ident.account.key.hex() not in repr(loaded)
    assert keystore.public_info(path) == (ident.address, ident.x25519_public)
    ctx = result_context(1, 0)
    assert open_bundle(seal(b"x", loaded.x25519_public, ctx), loaded.x25519, ctx) == b"x"


def test_keystore_wrong_password(tmp_path):
    path = keystore.save(keystore.create(), tmp_path / "k.json", "pw", scrypt_n=2**12)
    with pytest.raises(keystore.KeystoreError, match="wrong password"):
        keystore.load(path, "nope")
