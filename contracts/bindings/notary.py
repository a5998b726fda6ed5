"""Binding of Notary.sol: anchor transparency-log checkpoints and read them back."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from contracts.bindings.base import ContractBinding
from contracts.errors import ContractRevert
from contracts.tx import TxResult
from contracts.types import Checkpoint

NOTARIZER_ROLE = keccak(text="NOTARIZER_ROLE")
DEFAULT_ADMIN_ROLE = b"\x00" * 32


class NotaryBinding(ContractBinding):
    NAME = "Notary"

    def anchor(self, sender: LocalAccount, tree_size: int, root: bytes) -> TxResult:
        """Anchor checkpoint (tree_size, root); reverts with TreeSizeNotGrowing unless the size grows."""
        if len(root) != 32:
            raise ValueError(f"root must be 32 bytes, got {len(root)}")
        return self._send(sender, "anchor", tree_size, root)

    def build_anchor(self, sender: str, tree_size: int, root: bytes) -> dict:
        return self.build("anchor", tree_size, root, sender=sender)

    def grant_notarizer(self, admin: LocalAccount, account: str) -> TxResult:
        return self._send(admin, "grantRole", NOTARIZER_ROLE, account)

    def revoke_notarizer(self, admin: LocalAccount, account: str) -> TxResult:
        return self._send(admin, "revokeRole", NOTARIZER_ROLE, account)

    def is_notarizer(self, account: str) -> bool:
        return bool(self._read("hasRole", NOTARIZER_ROLE, account))

    def checkpoint_count(self) -> int:
        return int(self._read("checkpointCount"))

    def checkpoint(self, index: int) -> Checkpoint:
        tree_size, root, timestamp, block_number = self._read("checkpoint", index)
        return Checkpoint(index, int(tree_size), bytes(root), int(timestamp), int(block_number))

    def latest(self) -> Checkpoint | None:
        """The latest checkpoint, or None when nothing has been anchored yet."""
        try:
            index, (tree_size, root, timestamp, block_number) = self._read("latest")
        except ContractRevert as exc:
            if exc.error_name == "NoCheckpoints":
                return None
            raise
        return Checkpoint(int(index), int(tree_size), bytes(root), int(timestamp), int(block_number))
