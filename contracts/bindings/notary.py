"""Binding of Notary.sol: anchor transparency-log checkpoints and read them back."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from contracts.bindings.base import ContractBinding
from contracts.errors import LedgerError
from contracts.tx import TxResult
from contracts.types import Checkpoint

NOTARIZER_ROLE = keccak(text="NOTARIZER_ROLE")
DEFAULT_ADMIN_ROLE = b"\x00" * 32
# Blocks per eth_getLogs request: public RPC providers cap the range of one query.
LOG_CHUNK = 10_000


class CheckpointLogError(LedgerError):
    """A checkpoint's CheckpointAnchored log is missing, repeated, or disagrees with the Notary's storage."""


def anchored_logs(contract: Any, from_block: int, index: int | None = None) -> list[Checkpoint]:
    """Checkpoints decoded from the CheckpointAnchored logs of the web3 `contract` (the Notary), from
    `from_block` to the chain head, in log order; only checkpoint `index` if given."""
    event = contract.events.CheckpointAnchored
    filters = None if index is None else {"index": index}
    last = contract.w3.eth.block_number
    out = []
    for start in range(from_block, last + 1, LOG_CHUNK):
        stop = min(start + LOG_CHUNK - 1, last)
        for ev in event.get_logs(from_block=start, to_block=stop, argument_filters=filters):
            a = ev["args"]
            size, ts, block = int(a["treeSize"]), int(a["timestamp"]), int(ev["blockNumber"])
            out.append(Checkpoint(int(a["index"]), size, bytes(a["root"]), ts, block))
    return out


def one_per_index(found: list[Checkpoint], indices: range) -> list[Checkpoint]:
    """Checkpoints `indices` from `found` logs, exactly one log each (others are ignored, such as those
    anchored after the count was read)."""
    by_index: dict[int, list[Checkpoint]] = {}
    for cp in found:
        by_index.setdefault(cp.index, []).append(cp)
    out = []
    for i in indices:
        logs = by_index.get(i, [])
        if len(logs) != 1:
            raise CheckpointLogError(
                f"the Notary holds checkpoint {i} but the chain returned {len(logs)} "
                "CheckpointAnchored logs for it"
            )
        out.append(logs[0])
    return out


def check_root(cp: Checkpoint, stored_root: bytes) -> Checkpoint:
    """`cp` (read from a log) if its root is the one the Notary stores for its index."""
    if cp.root != stored_root:
        raise CheckpointLogError(
            f"checkpoint {cp.index}: its CheckpointAnchored log has root {cp.root.hex()} but the Notary "
            f"stores {stored_root.hex()}"
        )
    return cp


class NotaryBinding(ContractBinding):
    """The Notary stores each checkpoint's root and the latest checkpoint in full; older checkpoints' sizes
    and timestamps are read from their CheckpointAnchored logs (part of consensus, so just as trustless)."""

    NAME = "Notary"
    _deployment_block: int | None = None

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

    def deployment_block(self) -> int:
        """The block the Notary was deployed in (where log scans start)."""
        if self._deployment_block is None:
            self._deployment_block = int(self._read("deploymentBlock"))
        return self._deployment_block

    def root_at(self, index: int) -> bytes:
        """The stored root of checkpoint `index`; ContractRevert CheckpointNotFound past the end."""
        return bytes(self._read("rootAt", index))

    def checkpoint(self, index: int) -> Checkpoint:
        """Checkpoint `index`: the newest from storage alone, an older one from its log (root checked
        against storage). ContractRevert CheckpointNotFound past the end."""
        root = self.root_at(index)
        newest = self.latest()
        if newest is not None and newest.index == index:
            return newest
        found = anchored_logs(self.contract, self.deployment_block(), index)
        return check_root(one_per_index(found, range(index, index + 1))[0], root)

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint in order, from one scan of the logs; the newest is checked against storage."""
        newest = self.latest()
        if newest is None:
            return []
        out = one_per_index(anchored_logs(self.contract, self.deployment_block()), range(newest.index + 1))
        if out[-1] != newest:
            raise CheckpointLogError(f"the newest checkpoint: log {out[-1]}, Notary storage {newest}")
        return out

    def latest(self) -> Checkpoint | None:
        """The latest checkpoint (from storage alone), or None when nothing has been anchored yet."""
        row = self._read_or_none("latest", missing=("NoCheckpoints",))
        if row is None:
            return None
        index, (tree_size, root, timestamp, block_number) = row
        return Checkpoint(int(index), int(tree_size), bytes(root), int(timestamp), int(block_number))
