"""The shared vocabulary in dx_core: canonical JSON bytes, the SIWE sign-in message, file locks."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from dx_core import siwe
from dx_core.canonical import canonical_json
from dx_core.locks import file_lock, try_lock, unlock


def test_canonical_json_is_sorted_compact_utf8_and_refuses_nan() -> None:
    assert canonical_json({"b": [1, None], "a": "é"}) == '{"a":"é","b":[1,null]}'.encode()
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(TypeError):
        canonical_json({"x": object()})


def test_sign_in_message_parses_back_and_verifies() -> None:
    account = Account.create()
    nonce = siwe.generate_nonce()
    text = siwe.sign_in_message("exchange.test", account.address.lower(), nonce, 31337)
    message = siwe.parse(text)
    assert (message.domain, message.address, message.nonce, message.chain_id) == (
        "exchange.test",
        account.address,
        nonce,
        31337,
    )
    signature = Account.sign_message(encode_defunct(text=text), account.key).signature
    message.verify("0x" + signature.hex(), domain="exchange.test", nonce=nonce)
    with pytest.raises(ValueError):
        siwe.parse("not a sign-in message")


def test_try_lock_fails_while_held_and_succeeds_after(tmp_path) -> None:
    path = tmp_path / "locks" / "a.lock"
    with file_lock(path):
        assert try_lock(path) is None
    fd = try_lock(path)
    assert fd is not None
    unlock(fd)
