"""The public dev material has one home: every dev key's address is known, and refused off the dev chain."""

from __future__ import annotations

import pytest
from eth_account import Account

from dx_core import keystore
from ganache.launcher import DEV_KEYS


def test_dev_addresses_are_exactly_the_dev_chains_accounts():
    # the list in dx_core must not drift from the keys the local chains are started with
    assert keystore.DEV_ADDRESSES == tuple(Account.from_key(k).address for k in DEV_KEYS)
    assert len(set(keystore.DEV_ADDRESSES)) == 20


@pytest.mark.parametrize("index", [0, 7, 19])
def test_a_dev_key_is_refused_whatever_its_spelling(index):
    address = keystore.DEV_ADDRESSES[index]
    for spelling in (address, address.lower(), "0x" + address[2:].upper()):
        with pytest.raises(keystore.DevKeyError, match=f"public development account #{index}") as info:
            keystore.refuse_dev_address(spelling, "the operator account", chain_id=11155111)
        assert "chain 11155111" in str(info.value) and "the operator account" in str(info.value)


def test_a_fresh_key_passes():
    fresh = Account.create().address
    assert not keystore.is_dev_address(fresh)
    keystore.refuse_dev_address(fresh, "a fresh account", chain_id=1)  # no error
