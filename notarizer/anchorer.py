"""Anchors log checkpoints (size, root) on the Notary contract, proving each extends the chain's latest."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from eth_account.signers.local import LocalAccount
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from web3.exceptions import TimeExhausted, Web3RPCError

from contracts import ContractRevert, connect
from dx_core import keystore
from dx_core.settings import get_settings
from notarizer.entry import SYSTEM_ACTOR, Kind
from notarizer.log import AnchoredCheckpoint, TransparencyLog, create_tables
from notarizer.proofs import verify_consistency

log_ = logging.getLogger("notarizer.anchorer")
T = TypeVar("T")

# Errors worth retrying: the node is down or restarting, a request timed out, a receipt did not come.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeExhausted, Web3RPCError, TimeoutError)


class AnchorError(RuntimeError):
    """Anchoring could not complete (the chain stayed unreachable, or the Notary refused the checkpoint)."""


class ForkDetected(AnchorError):
    """The chain holds a checkpoint that is not a prefix of our log: the log or the chain was rewritten."""


class Anchorer:
    """Posts a checkpoint when `every_entries` entries or `every_seconds` seconds have accumulated.

    The database is the source of truth: entries are durable before anchoring, and on every run the
    anchorer first reconciles with the chain (records checkpoints that landed without being recorded,
    forgets records the chain no longer has after a node lost state), so restarts of the anchorer, the
    node or the API neither lose nor duplicate anything.
    """

    def __init__(
        self,
        log: TransparencyLog,
        ledger: Any,
        sender: LocalAccount,
        every_entries: int | None = None,
        every_seconds: float | None = None,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if every_entries is None or every_seconds is None:
            settings = get_settings()
            every_entries = settings.anchor_every_entries if every_entries is None else every_entries
            every_seconds = settings.anchor_every_seconds if every_seconds is None else every_seconds
        if every_entries < 1 or every_seconds < 0:
            raise ValueError(
                f"need every_entries >= 1 and every_seconds >= 0, got {every_entries}, {every_seconds}"
            )
        self.log, self.ledger, self.sender = log, ledger, sender
        self.every_entries, self.every_seconds = every_entries, every_seconds
        self.max_attempts, self.backoff_seconds, self.clock = max_attempts, backoff_seconds, clock

    @property
    def notary(self) -> Any:
        return self.ledger.notary

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        last: BaseException | None = None
        for attempt in range(self.max_attempts):
            try:
                return fn()
            except TRANSIENT_ERRORS as exc:
                last = exc
                log_.warning("%s failed (attempt %d/%d): %s", what, attempt + 1, self.max_attempts, exc)
                time.sleep(self.backoff_seconds * 2**attempt)
        raise AnchorError(f"{what} failed {self.max_attempts} times; last error: {last!r}") from last

    def _tx_of(self, index: int, block_number: int) -> str | None:
        """The hash of the transaction that anchored checkpoint `index` (searched in its block)."""
        event = self.notary.contract.events.CheckpointAnchored
        for ev in event.get_logs(
            from_block=block_number, to_block=block_number, argument_filters={"index": index}
        ):
            return "0x" + bytes(ev["transactionHash"]).hex()
        return None

    def _check_prefix(self, index: int, tree_size: int, root: bytes) -> None:
        size = self.log.size()
        if tree_size > size:
            raise ForkDetected(
                f"on-chain checkpoint {index} covers {tree_size} entries but the log holds only "
                f"{size}: entries were lost from the database, or the chain anchors another log"
            )
        ours = self.log.root(tree_size)
        if ours != root:
            raise ForkDetected(
                f"on-chain checkpoint {index} has root {root.hex()} for size {tree_size}, but the "
                f"log's root at that size is {ours.hex()}: the log and the chain have forked"
            )

    def reconcile(self) -> AnchoredCheckpoint | None:
        """Check the chain's checkpoints against the log and bring log_checkpoints in line with the chain."""
        count = self.notary.checkpoint_count()
        recorded = {cp.idx: cp for cp in self.log.checkpoints()}
        lost = sorted(i for i in recorded if i >= count)
        if lost:
            log_.warning(
                "the chain no longer has checkpoints %s (node state lost?); they will be re-anchored", lost
            )
            self.log.forget_checkpoints_from(lost[0])
        latest: AnchoredCheckpoint | None = None
        missing = sum(1 for i in range(count - 1) if i not in recorded)
        # Older checkpoints' sizes are in their logs: one scan for all rather than one per checkpoint.
        on_chain = {cp.index: cp for cp in self.notary.checkpoints()} if missing else {}
        for index in range(count):
            mine = recorded.get(index)
            if mine is not None and index < count - 1:
                continue  # checked when recorded; only the latest is re-proved each run
            cp = on_chain.get(index) or self.notary.checkpoint(index)
            self._check_prefix(index, cp.tree_size, cp.root)
            if mine is None or (mine.tree_size, mine.root) != (cp.tree_size, cp.root):
                if mine is not None:
                    self.log.forget_checkpoints_from(index)
                self.log.record_checkpoint(
                    AnchoredCheckpoint(
                        index,
                        cp.tree_size,
                        cp.root,
                        self._tx_of(index, cp.block_number),
                        cp.block_number,
                        cp.timestamp * 1_000_000,
                    )
                )
                log_.info(
                    "recorded on-chain checkpoint %d (size %d) found during reconciliation",
                    index,
                    cp.tree_size,
                )
        if count:
            latest = next(c for c in self.log.checkpoints() if c.idx == count - 1)
        return latest

    def due(self, anchored_size: int) -> bool:
        """Whether enough has accumulated since `anchored_size` (checkpoint.anchored entries do not count)."""
        pending = self.log.pending_count(anchored_size, Kind.CHECKPOINT_ANCHORED)
        if pending == 0:
            return False
        if pending >= self.every_entries:
            return True
        first = self.log.entry(anchored_size)
        return self.clock() - first.time_us / 1_000_000 >= self.every_seconds

    def run_once(self, force: bool = False) -> AnchoredCheckpoint | None:
        """Anchor a checkpoint if one is due (or `force`); return it, or None if nothing was posted."""
        latest = self._retry("reading the Notary's checkpoints", self.reconcile)
        base = latest.tree_size if latest else 0
        size = self.log.size()
        if size <= base or not (force or self.due(base)):
            return None
        root = self.log.root(size)
        if latest is not None:
            proof = self.log.consistency_proof(base, size)
            if not verify_consistency(base, size, latest.root, root, proof):
                raise ForkDetected(
                    f"the log at size {size} does not extend on-chain checkpoint {latest.idx} "
                    f"(size {base}): refusing to anchor an inconsistent tree"
                )
        cp = self._retry(f"anchoring checkpoint of size {size}", lambda: self._post(size, root))
        self.log.append(
            Kind.CHECKPOINT_ANCHORED,
            SYSTEM_ACTOR,
            [f"checkpoint:{cp.idx}"],
            {
                "index": cp.idx,
                "tree_size": cp.tree_size,
                "root": cp.root.hex(),
                "tx_hash": cp.tx_hash,
                "block_number": cp.block_number,
                "notary": self.notary.address,
            },
        )
        log_.info("anchored checkpoint %d: size %d root %s in tx %s", cp.idx, size, root.hex(), cp.tx_hash)
        return cp

    def _post(self, size: int, root: bytes) -> AnchoredCheckpoint:
        # A previous attempt may have landed although its receipt never reached us: look before sending.
        latest = self.reconcile()
        if latest is not None and latest.tree_size >= size:
            return latest
        try:
            tx = self.notary.anchor(self.sender, size, root)
        except ContractRevert as exc:
            if exc.error_name == "TreeSizeNotGrowing":
                raise TimeoutError(f"raced with another anchor: {exc}") from exc  # retried: reconcile sees it
            raise AnchorError(f"the Notary refused checkpoint ({size}, {root.hex()}): {exc}") from exc
        index = int(tx.event("CheckpointAnchored").args["index"])
        cp = AnchoredCheckpoint(index, size, root, tx.tx_hash, tx.block_number, int(self.clock() * 1_000_000))
        self.log.record_checkpoint(cp)
        return cp

    def run_forever(self, stop_event: threading.Event, poll_seconds: float = 1.0) -> None:
        """Call run_once until `stop_event` is set; chain and database outages are logged and retried
        (the database holds everything, so nothing is lost meanwhile); a fork raises."""
        while not stop_event.is_set():
            try:
                self.run_once()
            except ForkDetected:
                log_.critical("fork detected: stopping the anchorer", exc_info=True)
                raise
            except AnchorError as exc:
                log_.error("anchoring failed, will retry: %s", exc)
            except OperationalError as exc:
                log_.error("database unavailable, will retry: %s", exc.orig)
            stop_event.wait(poll_seconds)


def main(argv: list[str] | None = None) -> int:
    """`python -m notarizer.anchorer`: anchor the exchange database's log on the deployed Notary."""
    settings = get_settings()
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--once", action="store_true", help="anchor at most one checkpoint and exit")
    parser.add_argument("--force", action="store_true", help="with --once: anchor whatever is pending")
    args = parser.parse_args(argv)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    key = settings.notarizer_key or settings.relayer_key
    if not key:
        print(
            "set DX_NOTARIZER_KEY (or DX_RELAYER_KEY): the account holding the Notary's notarizer role",
            file=sys.stderr,
        )
        return 2
    engine = create_engine(settings.resolved_database_url)
    create_tables(engine)
    ledger = connect(settings.rpc_url, settings.resolved_deployment_file)
    anchorer = Anchorer(TransparencyLog(engine), ledger, keystore.load_signer(key))
    if args.once:
        cp = anchorer.run_once(force=args.force)
        print(json.dumps(cp.to_json() if cp else None))
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    anchorer.run_forever(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
