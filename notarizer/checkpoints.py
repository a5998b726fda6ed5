"""Records of the checkpoints anchored on the Notary (`log_checkpoints`), mixed into TransparencyLog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from notarizer.tables import LogCheckpoint

_CHECKPOINTS = LogCheckpoint.__table__


class CheckpointConflict(RuntimeError):
    """A checkpoint index is already recorded with another (size, root)."""


@dataclass(frozen=True)
class AnchoredCheckpoint:
    """A checkpoint as anchored on the Notary, with the transaction that anchored it (if known)."""

    idx: int
    tree_size: int
    root: bytes
    tx_hash: str | None
    block_number: int | None
    anchored_at_us: int

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.idx,
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "anchored_at": self.anchored_at_us,
        }


class CheckpointStore:
    """Checkpoint records on `self.engine`."""

    engine: Engine

    def record_checkpoint(self, cp: AnchoredCheckpoint) -> None:
        """Remember an anchored checkpoint (idempotent; a different record under one index is an error)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(_CHECKPOINTS).where(_CHECKPOINTS.c.idx == cp.idx)).first()
            if row is None:
                conn.execute(
                    insert(_CHECKPOINTS).values(
                        idx=cp.idx,
                        tree_size=cp.tree_size,
                        root=cp.root.hex(),
                        tx_hash=cp.tx_hash,
                        block_number=cp.block_number,
                        anchored_at_us=cp.anchored_at_us,
                    )
                )
            elif (row.tree_size, row.root) != (cp.tree_size, cp.root.hex()):
                raise CheckpointConflict(
                    f"checkpoint {cp.idx} is recorded as ({row.tree_size}, {row.root}) but is now "
                    f"reported as ({cp.tree_size}, {cp.root.hex()})"
                )
            elif row.tx_hash is None and cp.tx_hash is not None:
                conn.execute(
                    update(_CHECKPOINTS)
                    .where(_CHECKPOINTS.c.idx == cp.idx)
                    .values(tx_hash=cp.tx_hash, block_number=cp.block_number)
                )

    def forget_checkpoints_from(self, idx: int) -> None:
        """Drop records of checkpoints `idx` and later (the chain no longer has them: a node lost state)."""
        with self.engine.begin() as conn:
            conn.execute(delete(_CHECKPOINTS).where(_CHECKPOINTS.c.idx >= idx))

    def checkpoints(self) -> list[AnchoredCheckpoint]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(_CHECKPOINTS).order_by(_CHECKPOINTS.c.idx)).all()
        return [
            AnchoredCheckpoint(
                r.idx, r.tree_size, bytes.fromhex(r.root), r.tx_hash, r.block_number, r.anchored_at_us
            )
            for r in rows
        ]

    def latest_checkpoint(self) -> AnchoredCheckpoint | None:
        cps = self.checkpoints()
        return cps[-1] if cps else None

    def checkpoint_covering(self, seq: int) -> AnchoredCheckpoint | None:
        """The first recorded checkpoint whose tree contains entry `seq`, if any."""
        return next((cp for cp in self.checkpoints() if cp.tree_size > seq), None)
