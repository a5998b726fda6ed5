"""LocalChain: Anvil and Ganache with the dev accounts, state kept across restarts, clean stops."""

from __future__ import annotations

import pytest
from eth_account import Account

from contracts import web3_at
from ganache.launcher import DEV_KEYS, LocalChain

pytestmark = [pytest.mark.chain]


@pytest.mark.parametrize("kind", ["anvil", "ganache"])
def test_state_survives_a_restart(kind, tmp_path) -> None:
    sender, receiver = Account.from_key(DEV_KEYS[0]), Account.from_key(DEV_KEYS[19])
    with LocalChain.start(kind, state_dir=tmp_path, chain_id=31337) as chain:
        w3 = web3_at(chain.rpc_url)
        assert w3.eth.chain_id == 31337 == chain.chain_id
        assert w3.eth.accounts[:20] == [Account.from_key(k).address for k in DEV_KEYS]
        assert w3.eth.get_balance(receiver.address) == 10_000 * 10**18
        tx = {
            "to": receiver.address,
            "value": 12345,
            "gas": 21000,
            "nonce": 0,
            "chainId": 31337,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
        )
        height = w3.eth.block_number
    assert not chain.running and chain.process.returncode is not None
    with LocalChain.start(kind, state_dir=tmp_path) as again:
        w3 = web3_at(again.rpc_url)
        assert w3.eth.get_balance(receiver.address) == 10_000 * 10**18 + 12345
        assert w3.eth.get_transaction_count(sender.address) == 1
        assert w3.eth.block_number >= height


def test_two_chains_on_free_ports_and_bad_kind() -> None:
    with LocalChain.start("anvil") as a, LocalChain.start("anvil", chain_id=1337) as b:
        assert a.port != b.port and a.rpc_url != b.rpc_url
        assert web3_at(b.rpc_url).eth.chain_id == 1337
    with pytest.raises(ValueError, match="unknown chain kind"):
        LocalChain.start("geth")  # type: ignore[arg-type]
