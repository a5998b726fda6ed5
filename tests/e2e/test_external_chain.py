"""`dx up --rpc-url URL`: the stack on a chain someone else runs; `dx down` leaves that chain alone."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from contracts import web3_at
from dx.stack import rpc_alive
from dx_core.keystore import is_dev_address
from ganache.launcher import DEV_KEYS, LocalChain
from tests.e2e.conftest import free_port, make_runner

pytestmark = pytest.mark.e2e


def test_stack_on_an_external_chain(tmp_path):
    with LocalChain.start("anvil", port=free_port()) as chain:
        dx = make_runner(tmp_path)
        try:
            # Not the stack's own chain: fresh keys, named for funding before anything is deployed.
            unfunded = dx("--json", "up", "--rpc-url", chain.rpc_url, check=False)
            assert unfunded.returncode == 3, unfunded.stdout
            accounts = json.loads(dx("--json", "account", "list").stdout)
            assert accounts and not any(is_dev_address(a["address"]) for a in accounts)
            w3, faucet = web3_at(chain.rpc_url), Account.from_key(DEV_KEYS[0])  # the test plays the faucet
            for a in accounts:
                w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(faucet.sign_transaction({
                    "to": a["address"], "value": 10**18, "gas": 21000, "gasPrice": w3.eth.gas_price,
                    "nonce": w3.eth.get_transaction_count(faucet.address), "chainId": chain.chain_id,
                }).raw_transaction))
            up = json.loads(dx("--json", "up", "--rpc-url", chain.rpc_url, "--timeout", "120").stdout)
            assert up["chain"] == "external" and up["rpc_url"] == chain.rpc_url
            assert not any(is_dev_address(a["address"]) for a in up["accounts"])
            assert up["deployment"]["deployed_now"] is True and up["deployment"]["chain_id"] == chain.chain_id
            states = {s["name"]: s["state"] for s in json.loads(dx("--json", "status").stdout)["services"]}
            assert states == {"chain": "external", "api": "healthy", "anchorer": "healthy",
                              "node-0": "healthy", "node-1": "healthy", "node-2": "healthy"}
            # Changing chains under a running stack is refused with a hint, not done half-way.
            refused = dx("--json", "up", "--chain", "ganache", check=False)
            assert refused.returncode == 3
            assert "dx down" in json.loads(refused.stdout)["error"]["hint"]
        finally:
            stopped = json.loads(dx("--json", "down").stdout)["stopped"]
        assert "chain" not in stopped and {"api", "anchorer", "node-0"} <= set(stopped)
        assert rpc_alive(chain.rpc_url) == chain.chain_id  # not ours to stop
