"""Notary: only notarizers anchor, tree sizes strictly grow, checkpoints read back exactly."""

from __future__ import annotations

import pytest

from contracts import ContractRevert

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
