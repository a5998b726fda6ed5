"""Periodic upkeep in the app lifespan: purge expired rows, collect unreferenced blobs, poll receipts."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from exchange_api.deps import AppContext
from exchange_api.middleware.idempotency import purge_expired as purge_idempotency
from exchange_api.middleware.ratelimit import purge_idle_buckets
from exchange_api.models import AuthNonce, AuthToken
from exchange_api.services.blob_gc import collect_garbage
from exchange_api.services.relay import poll_pending

log = logging.getLogger("exchange_api.housekeeping")
N = AuthNonce.__table__
T = AuthToken.__table__


def purge_expired_auth(ctx: AppContext, now: datetime | None = None) -> tuple[int, int]:
    """Delete sign-in nonces past their lifetime (used or not) and expired tokens: (nonces, tokens)."""
    now = now or datetime.now(UTC)
    nonce_cutoff = now - timedelta(seconds=ctx.settings.nonce_ttl_seconds)
    with ctx.engine.begin() as conn:
        nonces = conn.execute(delete(N).where(N.c.issued_at < nonce_cutoff)).rowcount or 0
        tokens = conn.execute(delete(T).where(T.c.expires_at <= now)).rowcount or 0
    return nonces, tokens


# Collecting reads every referenced document (metadata, manifests, specs): not on every purge round.
BLOB_GC_EVERY_SECONDS = 3600.0


def run_housekeeping(
    ctx: AppContext, now: datetime | None = None, collect_blobs: bool = True
) -> dict[str, int]:
    """One round of purges and (with `collect_blobs`) garbage collection; what each removed."""
    now = now or datetime.now(UTC)
    nonces, tokens = purge_expired_auth(ctx, now)
    out = {
        "nonces": nonces,
        "tokens": tokens,
        "idempotency_records": purge_idempotency(ctx.engine, ctx.settings.idempotency_ttl_seconds, now),
        "rate_buckets": purge_idle_buckets(ctx.engine, now=now.timestamp()),
        "blobs": len(collect_garbage(ctx, now)) if collect_blobs else 0,
    }
    if any(out.values()):
        log.info("housekeeping removed %s", out, extra={"removed": out})
    return out


async def housekeeping_loop(ctx: AppContext, stop: asyncio.Event) -> None:
    """Poll pending receipts every DX_TX_POLL_SECONDS, purge every DX_HOUSEKEEPING_SECONDS and collect blobs
    at most hourly, each in a worker thread; a failed round is logged and retried at the next tick."""
    poll_every = max(ctx.settings.tx_poll_seconds, 0.1)
    purge_every = max(ctx.settings.housekeeping_seconds, poll_every)
    gc_every = max(min(BLOB_GC_EVERY_SECONDS, ctx.settings.blob_gc_grace_seconds), purge_every)
    last_purge = last_gc = float("-inf")
    while not stop.is_set():
        try:
            await asyncio.to_thread(poll_pending, ctx)
        except Exception:
            log.exception("receipt poll failed")
        if time.monotonic() - last_purge >= purge_every:
            last_purge = time.monotonic()
            collect = last_purge - last_gc >= gc_every
            if collect:
                last_gc = last_purge
            try:
                await asyncio.to_thread(run_housekeeping, ctx, None, collect)
            except Exception:
                log.exception("housekeeping failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=poll_every)
        except TimeoutError:
            pass
