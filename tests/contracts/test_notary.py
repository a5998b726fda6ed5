"""Notary: only notarizers anchor, tree sizes strictly grow, checkpoints read back exactly."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from contracts import ContractRevert, Ledger, deploy, web3_at
from contracts.bindings.notary import CheckpointLogError, check_root, one_per_index
from contracts.types import Checkpoint
from ganache.launcher import LocalChain
from notarizer.chainview import ChainView
from tests.fixtures.chain import TEST_CHAIN

pytestmark = [pytest.mark.contracts, pytest.mark.chain]


def test_anchor_and_read_back(ledger, operator, chain_snapshot) -> None:
    notary = ledger.notary
    assert notary.latest() is None
    assert notary.checkpoint_count() == 0
    roots = [bytes([i]) * 32 for i in range(1, 6)]
    results = [notary.anchor(operator, 10 * (i + 1), root) for i, root in enumerate(roots)]
    assert notary.checkpoint_count() == 5
    for i, (root, result) in enumerate(zip(roots, results, strict=True)):
        cp = notary.checkpoint(i)
        expected = (i, 10 * (i + 1), root, result.block_number)
        assert (cp.index, cp.tree_size, cp.root, cp.block_number) == expected
        ev = result.event("CheckpointAnchored")
        assert ev.args == {"index": i, "treeSize": 10 * (i + 1), "root": root, "timestamp": cp.timestamp}
    assert notary.latest() == notary.checkpoint(4)


def test_tree_size_must_grow(ledger, operator, chain_snapshot) -> None:
    ledger.notary.anchor(operator, 7, b"\x01" * 32)
    for smaller_or_equal in (7, 6, 0):
        with pytest.raises(ContractRevert) as info:
            ledger.notary.anchor(operator, smaller_or_equal, b"\x02" * 32)
        assert info.value.error_name == "TreeSizeNotGrowing"
        assert info.value.args_dict == {"previousSize": 7, "newSize": smaller_or_equal}
        assert str(info.value) == f"Notary.TreeSizeNotGrowing(previousSize=7, newSize={smaller_or_equal})"
    assert ledger.notary.checkpoint_count() == 1


def test_only_notarizers_anchor(ledger, operator, dev_accounts, chain_snapshot) -> None:
    outsider = dev_accounts[9]
    with pytest.raises(ContractRevert) as info:
        ledger.notary.anchor(outsider, 1, b"\x01" * 32)
    assert info.value.error_name == "AccessControlUnauthorizedAccount"
    assert info.value.args_dict["account"] == outsider.address
    ledger.notary.grant_notarizer(operator, outsider.address)
    assert ledger.notary.is_notarizer(outsider.address)
    ledger.notary.anchor(outsider, 1, b"\x01" * 32)
    ledger.notary.revoke_notarizer(operator, outsider.address)
    with pytest.raises(ContractRevert):
        ledger.notary.anchor(outsider, 2, b"\x01" * 32)
    # granting needs the admin role
    with pytest.raises(ContractRevert) as info:
        ledger.notary.grant_notarizer(outsider, outsider.address)
    assert info.value.error_name == "AccessControlUnauthorizedAccount"


def test_missing_checkpoint_and_bad_root(ledger, operator, chain_snapshot) -> None:
    with pytest.raises(ContractRevert) as info:
        ledger.notary.checkpoint(0)
    assert str(info.value) == "Notary.CheckpointNotFound(index=0, count=0)"
    with pytest.raises(ValueError, match="32 bytes"):
        ledger.notary.anchor(operator, 1, b"\x01" * 31)


def test_relay_a_transaction_signed_off_box(ledger, operator, chain_snapshot) -> None:
    tx = ledger.notary.build_anchor(operator.address, 3, b"\x09" * 32)
    raw = operator.sign_transaction(tx).raw_transaction
    result = ledger.send_raw(raw)
    assert result.event("CheckpointAnchored").args["treeSize"] == 3
    assert ledger.notary.latest().root == b"\x09" * 32
    assert [e.event for e in ledger.events(result.block_number)] == ["CheckpointAnchored"]


def test_old_checkpoints_come_from_logs_checked_against_storage(ledger, operator, chain_snapshot) -> None:
    notary = ledger.notary
    assert notary.checkpoints() == []
    assert notary.deployment_block() <= ledger.w3.eth.block_number
    results = [notary.anchor(operator, 3 * (i + 1), bytes([0x40 + i]) * 32) for i in range(4)]
    everything = notary.checkpoints()
    assert [(c.index, c.tree_size, c.block_number) for c in everything] == [
        (i, 3 * (i + 1), r.block_number) for i, r in enumerate(results)
    ]
    assert everything == [notary.checkpoint(i) for i in range(4)]
    assert everything[-1] == notary.latest()
    assert [notary.root_at(i) for i in range(4)] == [bytes([0x40 + i]) * 32 for i in range(4)]
    with pytest.raises(ContractRevert) as info:
        notary.root_at(4)
    assert str(info.value) == "Notary.CheckpointNotFound(index=4, count=4)"


def test_log_helpers_refuse_missing_repeated_or_contradicted_logs() -> None:
    a = Checkpoint(0, 5, b"\x01" * 32, 100, 7)
    b = Checkpoint(1, 9, b"\x02" * 32, 101, 8)
    assert one_per_index([b, a, Checkpoint(2, 11, b"\x03" * 32, 102, 9)], range(2)) == [a, b]
    with pytest.raises(CheckpointLogError, match="checkpoint 1 but the chain returned 0"):
        one_per_index([a], range(2))
    with pytest.raises(CheckpointLogError, match="checkpoint 0 but the chain returned 2"):
        one_per_index([a, a, b], range(2))
    assert check_root(b, b"\x02" * 32) == b
    with pytest.raises(CheckpointLogError, match="checkpoint 1: its CheckpointAnchored log has root 0202"):
        check_root(b, b"\x09" * 32)


def test_every_steady_state_anchor_costs_under_60k_gas(ledger, operator, chain_snapshot) -> None:
    # One fresh slot (the root) per anchor; sizes of older checkpoints live in the event only.
    gas = [ledger.notary.anchor(operator, 10_000 * (i + 1), bytes([i + 1]) * 32).gas_used for i in range(6)]
    assert all(g < 60_000 for g in gas[1:]), gas
    assert max(gas[1:]) - min(gas[1:]) < 100, gas  # no alternating pattern left


def test_regulator_chain_view_reads_the_same_checkpoints(ledger, operator, chain, chain_snapshot) -> None:
    view = ChainView(chain.rpc_url, ledger.notary.address)
    assert view.checkpoints() == [] and view.checkpoint(0) is None
    for i in range(3):
        ledger.notary.anchor(operator, 100 * (i + 1), bytes([0x70 + i]) * 32)
    ours = [asdict(cp) for cp in ledger.notary.checkpoints()]
    assert [asdict(cp) for cp in view.checkpoints()] == ours
    assert [asdict(view.checkpoint(i)) for i in range(3)] == ours  # two from logs, the newest from storage
    assert view.checkpoint(3) is None


def test_older_checkpoints_survive_a_node_restart(tmp_path, operator) -> None:
    # Older sizes live only in logs: the node's saved state must bring the logs back, not just storage.
    with LocalChain.start(TEST_CHAIN, state_dir=tmp_path) as node:  # type: ignore[arg-type]
        w3 = web3_at(node.rpc_url)
        deployment = deploy(w3, operator)
        for i in range(3):
            Ledger(w3, deployment).notary.anchor(operator, 5 + i, bytes([i + 1]) * 32)
        before = Ledger(w3, deployment).notary.checkpoints()
    with LocalChain.start(TEST_CHAIN, state_dir=tmp_path) as node:  # type: ignore[arg-type]
        notary = Ledger(web3_at(node.rpc_url), deployment).notary
        assert [c.tree_size for c in before] == [5, 6, 7]
        assert notary.checkpoints() == before and notary.checkpoint(0) == before[0]
