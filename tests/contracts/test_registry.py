"""Registry: admission, roles, keys, suspension and the compute cluster, with their access rules."""

from __future__ import annotations

import pytest

from contracts import ContractRevert
from dx_core.roles import Role
from tests.contracts.conftest import CID, NODE_FEE, h

pytestmark = [pytest.mark.contracts, pytest.mark.chain]


def test_members_roles_keys(ledger, world, dev_accounts, chain_snapshot) -> None:
    reg = ledger.registry
    newcomer = dev_accounts[15]
    assert reg.member(newcomer.address) is None and not reg.is_active(newcomer.address)
    ev = reg.admit(world.operator, newcomer.address, Role.PROVIDER | Role.BUYER, h("k"), CID).event(
        "MemberAdmitted"
    )
    assert ev.args == {"member": newcomer.address, "roles": 5, "encryptionKey": h("k"), "metadataCid": CID}
    m = reg.member(newcomer.address)
    assert (m.roles, m.suspended, m.encryption_key, m.metadata_cid) == (
        Role.PROVIDER | Role.BUYER,
        False,
        h("k"),
        CID,
    )
    assert m.admitted_at > 0 and m.has(Role.BUYER) and not m.has(Role.REGULATOR)
    assert reg.is_active(newcomer.address, Role.PROVIDER) and reg.is_active(newcomer.address, Role.BUYER)
    assert reg.is_active(newcomer.address, Role.PROVIDER | Role.BUYER)
    assert not reg.is_active(newcomer.address, Role.COMPUTE_NODE)

    ev = reg.rotate_key(newcomer, h("k2")).event("MemberKeyRotated")
    assert ev.args == {"member": newcomer.address, "oldKey": h("k"), "newKey": h("k2")}
    reg.update_metadata(newcomer, "bafynew")
    assert reg.member(newcomer.address).encryption_key == h("k2")
    assert reg.member(newcomer.address).metadata_cid == "bafynew"

    ev = reg.set_roles(world.operator, newcomer.address, Role.REGULATOR).event("MemberRolesChanged")
    assert ev.args == {"member": newcomer.address, "oldRoles": 5, "newRoles": 16}
    assert not reg.is_active(newcomer.address, Role.BUYER) and reg.is_active(newcomer.address, Role.REGULATOR)

    reg.suspend(world.operator, newcomer.address)
    assert reg.member(newcomer.address).suspended and not reg.is_active(newcomer.address, Role.REGULATOR)
    assert not reg.is_active(newcomer.address)
    reg.reinstate(world.operator, newcomer.address)
    assert reg.is_active(newcomer.address, Role.REGULATOR)


def test_admission_rules(ledger, world, dev_accounts, chain_snapshot) -> None:
    reg = ledger.registry
    newcomer = dev_accounts[16]

    def err(call, *args) -> str:
        with pytest.raises(ContractRevert) as info:
            call(*args)
        return str(info.value)

    assert err(reg.admit, world.operator, world.buyer.address, Role.BUYER, h("k"), CID) == (
        f"Registry.AlreadyMember(account={world.buyer.address})"
    )
    assert (
        err(reg.admit, world.operator, newcomer.address, 0, h("k"), CID) == "Registry.InvalidRoles(roles=0)"
    )
    assert (
        err(reg.admit, world.operator, newcomer.address, 32, h("k"), CID) == "Registry.InvalidRoles(roles=32)"
    )
    assert err(reg.admit, world.operator, newcomer.address, 1, b"\0" * 32, CID) == (
        f"Registry.InvalidEncryptionKey(account={newcomer.address})"
    )
    assert "AccessControlUnauthorizedAccount" in err(reg.admit, world.buyer, newcomer.address, 1, h("k"), CID)
    assert "AccessControlUnauthorizedAccount" in err(reg.suspend, world.buyer, world.provider1.address)
    assert "AccessControlUnauthorizedAccount" in err(reg.set_roles, world.buyer, world.buyer.address, 31)
    assert err(reg.rotate_key, newcomer, h("k")) == f"Registry.NotMember(account={newcomer.address})"
    assert (
        err(reg.rotate_key, world.buyer, b"\0" * 32)
        == f"Registry.InvalidEncryptionKey(account={world.buyer.address})"
    )
    assert (
        err(reg.suspend, world.operator, newcomer.address)
        == f"Registry.NotMember(account={newcomer.address})"
    )
    assert err(reg.reinstate, world.operator, world.buyer.address) == (
        f"Registry.NotSuspended(account={world.buyer.address})"
    )
    reg.suspend(world.operator, world.buyer.address)
    assert err(reg.suspend, world.operator, world.buyer.address) == (
        f"Registry.AlreadySuspended(account={world.buyer.address})"
    )
    with pytest.raises(ValueError, match="32 bytes"):
        reg.admit(world.operator, newcomer.address, 1, b"short", CID)


def test_cluster(ledger, world, chain_snapshot) -> None:
    reg = ledger.registry
    cluster = reg.cluster()
    n0, n1, n2 = (n.address for n in world.nodes)
    assert cluster.nodes == (n0, n1, n2) and cluster.node_fee == NODE_FEE and cluster.version == 1
    assert cluster.spu_config_hash == h("spu config") and cluster.endpoints_cid == CID
    assert [reg.node_index(a) for a in (n0, n1, n2)] == [0, 1, 2]
    assert reg.node_index(world.spare_node.address) is None and reg.node_index(world.buyer.address) is None

    def err(*args) -> ContractRevert:
        with pytest.raises(ContractRevert) as info:
            reg.register_cluster(*args)
        return info.value

    spare = world.spare_node.address
    assert str(err(world.operator, [n0, n1, world.buyer.address], CID, h("c"), 1)) == (
        f"Registry.NotComputeNode(account={world.buyer.address})"
    )
    assert str(err(world.operator, [n0, n1, n1], CID, h("c"), 1)) == f"Registry.DuplicateNode(node={n1})"
    assert err(world.buyer, [n0, n1, spare], CID, h("c"), 1).error_name == "AccessControlUnauthorizedAccount"
    assert err(world.operator, [n0, n1, spare], CID, h("c"), 2**96).error_name == "FeeTooLarge"
    with pytest.raises(ValueError, match="three"):
        reg.register_cluster(world.operator, [n0, n1], CID, h("c"), 1)

    # a new cluster version: the spare replaces node 2; old-version membership remains for old jobs
    ev = reg.register_cluster(world.operator, [n0, spare, n1], CID, h("c2"), 7).event("ClusterRegistered")
    assert ev.args["version"] == 2 and ev.args["nodes"] == [n0, spare, n1]
    assert reg.cluster().version == 2 and reg.cluster().node_fee == 7
    assert reg.node_index(spare) == 1 and reg.node_index(n1) == 2 and reg.node_index(n2) is None
    assert reg.node_index(n2, version=1) == 2 and reg.node_index(n1, version=1) == 1
    assert reg.cluster_nodes(1) == (n0, n1, n2)
    # suspending a node or taking its role disables it; reinstating restores it
    reg.suspend(world.operator, spare)
    assert reg.node_index(spare) is None
    reg.reinstate(world.operator, spare)
    assert reg.node_index(spare) == 1
    reg.set_roles(world.operator, spare, Role.BUYER)
    assert reg.node_index(spare) is None
    reg.set_roles(world.operator, spare, Role.COMPUTE_NODE)
    assert reg.node_index(spare) == 1
