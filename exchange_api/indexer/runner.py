"""Chain indexer: follows every ledger event into the database; idempotent, restart-safe, reorg-tolerant.

The derived tables (members, listings, jobs, approvals' on-chain status, attestations) are a pure
function of the `chain_event` rows, so a reorg is handled by deleting the events of the orphaned
blocks and re-deriving from the events that remain: no RPC is needed to roll back. Detection is
cheap because block hashes chain: if the last processed block still has the hash we stored, every
block below it does too; otherwise we walk back through the stored hashes to the fork point.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlmodel import Session

from exchange_api.catalog.store import bump_catalog_version
from exchange_api.chain import jsonable
from exchange_api.indexer.apply import DERIVED_TABLES, EventApplier, log_entries_for
from exchange_api.indexer.lease import IndexerLease
from exchange_api.models import ChainEvent, IndexedBlock, IndexerState, utcnow

if TYPE_CHECKING:  # the context holds the indexer: a runtime import would be a cycle
    from exchange_api.deps import AppContext

log = logging.getLogger("exchange_api.indexer")
CHUNK_BLOCKS = 2_000
KEEP_BLOCK_HASHES = 256


class Indexer:
    """Runs `run_once()` in a loop (a background task of the app); `run_once()` is public for tests."""

    def __init__(self, ctx: AppContext, poll_seconds: float = 0.5) -> None:
        if ctx.chain is None:
            raise ValueError("the indexer needs a chain: no deployment is configured")
        self.ctx = ctx
        self.chain = ctx.chain
        self.engine = ctx.engine
        self.poll_seconds = poll_seconds
        self.lag: int | None = None
        self._stop = asyncio.Event()
        self.applier = EventApplier(ctx.blobs)
        # The background loop and read-your-writes calls after a relay must not index concurrently.
        self._lock = threading.Lock()

    # -- state -----------------------------------------------------------------------------------------

    def _state(self, session: Session) -> IndexerState:
        state = session.get(IndexerState, 1)
        if state is None or state.chain_id != self.chain.chain_id:
            if state is not None:
                log.warning(
                    "indexed chain id %s is not %s: re-indexing from scratch",
                    state.chain_id,
                    self.chain.chain_id,
                )
            self._wipe(session)
            state = IndexerState(
                id=1, chain_id=self.chain.chain_id, last_block=self.chain.first_block - 1, last_hash=""
            )
            session.merge(state)
            session.commit()
            state = session.get(IndexerState, 1)
        return state  # type: ignore[return-value]

    def _wipe(self, session: Session) -> None:
        for table in (*DERIVED_TABLES, ChainEvent.__table__, IndexedBlock.__table__, IndexerState.__table__):
            session.execute(delete(table))
        bump_catalog_version(session)

    # -- reorgs ----------------------------------------------------------------------------------------

    def _fork_point(self, session: Session, state: IndexerState) -> int | None:
        """None if the last processed block is still canonical, else the newest block still canonical."""
        if state.last_hash == "" or self.chain.block_hash(state.last_block) == state.last_hash:
            return None
        rows = session.exec(  # type: ignore[call-overload]
            select(IndexedBlock.number, IndexedBlock.hash).order_by(IndexedBlock.number.desc())
        ).all()
        for number, stored in rows:
            if number < state.last_block and self.chain.block_hash(number) == stored:
                return number
        return self.chain.first_block - 1

    def _rollback(self, session: Session, state: IndexerState, keep_through: int) -> None:
        log.warning(
            "reorg or chain restart: rolling back blocks after %d (was at %d)", keep_through, state.last_block
        )
        self.ctx.metrics.indexer_reorgs.inc()
        session.execute(
            delete(ChainEvent.__table__).where(ChainEvent.__table__.c.block_number > keep_through)
        )
        session.execute(delete(IndexedBlock.__table__).where(IndexedBlock.__table__.c.number > keep_through))
        for table in DERIVED_TABLES:
            session.execute(delete(table))
        bump_catalog_version(session)
        events = (
            session.execute(select(ChainEvent).order_by(ChainEvent.block_number, ChainEvent.log_index))
            .scalars()
            .all()
        )
        for ev in events:
            self.applier.apply(session, ev)
        stored = session.get(IndexedBlock, keep_through)
        state.last_block = keep_through
        state.last_hash = stored.hash if stored else ""
        session.add(state)
        session.commit()
        self.ctx.roles.invalidate()

    # -- one pass --------------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Index everything up to the current head; returns how many new events were applied."""
        with self._lock:
            return self._run_once()

    def _run_once(self) -> int:
        head = self.chain.block_number()
        applied = 0
        with Session(self.engine, expire_on_commit=False) as session:
            state = self._state(session)
            fork = self._fork_point(session, state)
            if fork is not None:
                self._rollback(session, state, fork)
            while state.last_block < head:
                end = min(state.last_block + CHUNK_BLOCKS, head)
                applied += self._index_range(session, state, state.last_block + 1, end)
        self.lag = max(0, head - state.last_block)
        self.ctx.metrics.indexer_lag.set(self.lag)
        self.ctx.metrics.indexer_last_block.set(state.last_block)
        return applied

    def _index_range(self, session: Session, state: IndexerState, start: int, end: int) -> int:
        events = self.chain.ledger.events(start, end)
        end_hash = self.chain.block_hash(end) or ""
        new_entries: list[dict] = []
        hashes: dict[int, str] = {end: end_hash}
        applied = 0
        for ev in events:
            if ev.block_number == end and ev.block_hash != end_hash:
                # The chain moved under us between the two calls: retry this range on the next pass.
                session.rollback()
                return applied
            hashes[ev.block_number] = ev.block_hash
            exists = session.exec(  # type: ignore[call-overload]
                select(ChainEvent.id).where(
                    ChainEvent.tx_hash == ev.tx_hash, ChainEvent.log_index == ev.log_index
                )
            ).first()
            if exists is not None:
                continue
            row = ChainEvent(
                block_number=ev.block_number,
                block_hash=ev.block_hash,
                tx_hash=ev.tx_hash,
                log_index=ev.log_index,
                contract=ev.contract,
                name=ev.event,
                args=jsonable(ev.args),
            )
            session.add(row)
            self.applier.apply(session, row)
            new_entries.extend(log_entries_for(row))
            applied += 1
        for number, block_hash in hashes.items():
            session.merge(IndexedBlock(number=number, hash=block_hash))
        session.execute(
            delete(IndexedBlock.__table__).where(IndexedBlock.__table__.c.number < end - KEEP_BLOCK_HASHES)
        )
        state.last_block, state.last_hash, state.head_block, state.updated_at = end, end_hash, end, utcnow()
        session.add(state)
        session.commit()
        if applied:
            self.ctx.roles.invalidate()
        if new_entries:
            try:
                self.ctx.log.append_many(new_entries)
            except Exception:
                self.ctx.metrics.notarize_failures.inc(len(new_entries))
                log.exception("could not notarize %d chain events", len(new_entries))
        return applied

    # -- background loop -------------------------------------------------------------------------------

    async def run_forever(self) -> None:
        """Index every `poll_seconds` while this worker holds the indexer lease; stand by otherwise."""
        lease = IndexerLease(self.engine, self.ctx.settings.data_dir)
        try:
            while not self._stop.is_set():
                try:
                    if await asyncio.to_thread(lease.acquire):
                        await asyncio.to_thread(self.run_once)
                    else:
                        await asyncio.to_thread(self._observe_lag)
                except Exception as exc:
                    log.warning("indexer pass failed (will retry): %s", exc)
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=self.poll_seconds)
                except TimeoutError:
                    pass
        finally:
            lease.release()

    def _observe_lag(self) -> None:
        """A standby worker still reports the lag (from the state the lease holder writes)."""
        with Session(self.engine) as session:
            state = session.get(IndexerState, 1)
        if state is not None:
            self.lag = max(0, self.chain.block_number() - state.last_block)
            self.ctx.metrics.indexer_lag.set(self.lag)

    def stop(self) -> None:
        self._stop.set()
