"""`dx up --rpc-url`: a chain the stack does not run itself never gets the public Anvil/Ganache dev keys."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from eth_account import Account

from dx.identities import STACK_ACCOUNTS
from dx.stack import StackConfig, is_local_dev_chain
from dx_core import keystore
from ganache.launcher import DEV_KEYS, LocalChain
from tests.e2e.conftest import DxRunner, free_port, make_runner

SEPOLIA_ID = 11155111


@pytest.fixture(scope="module")
def sepolia_like() -> Iterator[LocalChain]:
    """A chain with a real network's id, which the stack reaches by URL (it holds the dev accounts' funds,
    as a careless fork or a testnet faucet would: what matters is that dx never uses those keys)."""
    with LocalChain.start("anvil", port=free_port(), chain_id=SEPOLIA_ID) as chain:
        yield chain


@pytest.fixture
def dx(tmp_path) -> Iterator[DxRunner]:
    runner = make_runner(tmp_path)
    try:
        yield runner
    finally:  # the old code started a whole stack here: never leave it running
        runner("down", "--timeout", "20", check=False)


def _error(proc) -> dict:
    assert proc.returncode != 0, proc.stdout[-2000:]
    return json.loads(proc.stdout)["error"]


def test_up_creates_fresh_keys_and_names_the_accounts_to_fund(sepolia_like, dx):
    error = _error(dx("--json", "up", "--rpc-url", sepolia_like.rpc_url, check=False))
    assert error["type"] == "StackError" and f"without funds on chain {SEPOLIA_ID}" in error["message"]
    accounts = {a["name"]: a["address"] for a in json.loads(dx("--json", "account", "list").stdout)}
    assert set(accounts) == set(STACK_ACCOUNTS)  # operator and services only: no demo cast of dev keys
    for name, address in accounts.items():
        assert not keystore.is_dev_address(address), name
        assert f"{name} {address}" in error["message"]
        ident = keystore.load(dx.data_dir / "keys" / f"{name}.json", dx.env[keystore.PASSWORD_ENV])
        assert ident.address == address
    assert not (dx.data_dir / "deployment.json").exists()  # nothing deployed, with any key
    assert not (dx.data_dir / "run" / "api.pid").exists()  # nothing started


def test_a_dev_key_given_by_environment_is_refused(sepolia_like, dx):
    dx.env["DX_RELAYER_KEY"] = DEV_KEYS[11]
    error = _error(dx("--json", "up", "--rpc-url", sepolia_like.rpc_url, check=False))
    assert error["type"] == "ConfigError"
    assert "relayer account ($DX_RELAYER_KEY)" in error["message"]
    assert "public development account #11" in error["message"] and f"chain {SEPOLIA_ID}" in error["message"]
    assert not list((dx.data_dir / "keys").glob("*.json")) if (dx.data_dir / "keys").exists() else True


def test_a_dev_keystore_left_in_the_data_dir_is_refused_even_on_a_31337_chain(dx):
    # an Anvil somebody else runs has the dev chain id, but it is not the stack's own: still refused
    keystore.save(keystore.create(Account.from_key(DEV_KEYS[0])), dx.data_dir / "keys" / "operator.json",
                  dx.env[keystore.PASSWORD_ENV], 2**10)
    with LocalChain.start("anvil", port=free_port()) as chain:
        error = _error(dx("--json", "up", "--rpc-url", chain.rpc_url, check=False))
    assert "the operator account" in error["message"] and "public development account #0" in error["message"]
    assert "dx account import" in error["hint"]
    assert not (dx.data_dir / "deployment.json").exists()


def test_import_of_a_dev_key_is_refused_outside_the_demo_stack(dx):
    error = _error(dx("--json", "account", "import", "treasury", "--private-key", DEV_KEYS[3], check=False))
    assert "public development account #3" in error["message"]
    assert not (dx.data_dir / "keys" / "treasury.json").exists()


@pytest.mark.parametrize(("chain", "chain_id", "local"), [
    ("anvil", 31337, True), ("ganache", 1337, True), ("anvil", SEPOLIA_ID, False),
    ("external", 31337, False), ("external", 1337, False), ("external", 1, False)])
def test_only_the_stacks_own_node_with_a_dev_chain_id_is_local(chain, chain_id, local):
    config = StackConfig("/tmp/x", chain, "http://127.0.0.1:1", "http://127.0.0.1:2", 2, 1, 3, 4)
    assert is_local_dev_chain(config, chain_id) is local
