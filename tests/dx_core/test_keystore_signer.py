"""keystore.load_signer: the one reader of a service's key setting (a 0x key or a keystore path)."""

from __future__ import annotations

import pytest

from dx_core import keystore


def test_hex_key_and_keystore_path_give_the_same_account(tmp_path, monkeypatch) -> None:
    ident = keystore.create()
    path = keystore.save(ident, tmp_path / "k.json", "pw", scrypt_n=2**12)
    assert keystore.load_signer(ident.account.key.to_0x_hex()).address == ident.address
    assert keystore.load_signer(str(path), "pw").address == ident.address
    monkeypatch.setenv(keystore.PASSWORD_ENV, "pw")
    assert keystore.load_signer(str(path)).address == ident.address
    monkeypatch.delenv(keystore.PASSWORD_ENV)
    with pytest.raises(keystore.KeystoreError, match="set DX_KEYSTORE_PASSWORD"):
        keystore.load_signer(str(path))
    with pytest.raises(keystore.KeystoreError, match="wrong password"):
        keystore.load_signer(str(path), "nope")
