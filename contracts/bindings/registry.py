"""Binding of Registry.sol: members, their roles and encryption keys, and the compute cluster."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from contracts.bindings.base import ContractBinding
from contracts.tx import TxResult
from contracts.types import Cluster, Member
from dx_core.roles import Role


def _key(value: bytes) -> bytes:
    if len(value) != 32:
        raise ValueError(f"expected 32 bytes (an X25519 public key or a hash), got {len(value)}")
    return bytes(value)


class RegistryBinding(ContractBinding):
    NAME = "Registry"

    # ---- members (operator)
    def admit(
        self, sender: LocalAccount, account: str, roles: Role | int, encryption_key: bytes, metadata_cid: str
    ) -> TxResult:
        return self._send(sender, "admit", account, int(roles), _key(encryption_key), metadata_cid)

    def set_roles(self, sender: LocalAccount, account: str, roles: Role | int) -> TxResult:
        return self._send(sender, "setRoles", account, int(roles))

    def suspend(self, sender: LocalAccount, account: str) -> TxResult:
        return self._send(sender, "suspend", account)

    def reinstate(self, sender: LocalAccount, account: str) -> TxResult:
        return self._send(sender, "reinstate", account)

    # ---- members (self-service)
    def rotate_key(self, sender: LocalAccount, new_key: bytes) -> TxResult:
        return self._send(sender, "rotateKey", _key(new_key))

    def build_rotate_key(self, sender: str, new_key: bytes) -> dict:
        return self.build("rotateKey", _key(new_key), sender=sender)

    def update_metadata(self, sender: LocalAccount, metadata_cid: str) -> TxResult:
        return self._send(sender, "updateMetadata", metadata_cid)

    # ---- cluster (operator)
    def register_cluster(
        self,
        sender: LocalAccount,
        nodes: list[str] | tuple[str, ...],
        endpoints_cid: str,
        spu_config_hash: bytes,
        node_fee: int,
    ) -> TxResult:
        if len(nodes) != 3:
            raise ValueError(f"the cluster has exactly three nodes, got {len(nodes)}")
        return self._send(
            sender, "registerCluster", list(nodes), endpoints_cid, _key(spu_config_hash), node_fee
        )

    # ---- reads
    def is_active(self, account: str, role: Role | int = 0) -> bool:
        """True for a non-suspended member holding every flag in `role` (any member for role 0)."""
        return bool(self._read("isActive", account, int(role)))

    def member(self, account: str) -> Member | None:
        """The member record, or None for a non-member."""
        row = self._read_or_none("member", account, missing=("NotMember",))
        if row is None:
            return None
        roles, suspended, admitted_at, key, cid = row
        return Member(
            self.w3.to_checksum_address(account),
            Role(roles),
            bool(suspended),
            int(admitted_at),
            bytes(key),
            cid,
        )

    def cluster(self) -> Cluster | None:
        """The current compute cluster, or None before one is registered."""
        row = self._read_or_none("cluster", missing=("NoCluster",))
        if row is None:
            return None
        nodes, endpoints_cid, config_hash, node_fee, version = row
        return Cluster(tuple(nodes), endpoints_cid, bytes(config_hash), int(node_fee), int(version))  # type: ignore[arg-type]

    def cluster_version(self) -> int:
        return int(self._read("clusterVersion"))

    def cluster_nodes(self, version: int) -> tuple[str, str, str]:
        return tuple(self._read("clusterNodes", version))  # type: ignore[return-value]

    def node_index(self, node: str, version: int | None = None) -> int | None:
        """Index 0..2 of `node` in the cluster `version` (default current), or None if it is not a node."""
        version = self.cluster_version() if version is None else version
        index = self._read_or_none("nodeIndex", node, version, missing=("NotComputeNode", "NoCluster"))
        return None if index is None else int(index)
