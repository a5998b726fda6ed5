"""The FastAPI app factory: wires settings, database, blob store, chain, log, indexer and routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from sqlalchemy import Engine, select

from dx_core.blobstore import open_blob_store
from dx_core.settings import Settings, get_settings
from exchange_api.catalog.index import CatalogIndex
from exchange_api.chain import open_chain
from exchange_api.db import make_engine, upgrade_head
from exchange_api.deps import AppContext, RoleCache, require_regulator
from exchange_api.errors import install_error_handlers
from exchange_api.indexer.runner import Indexer
from exchange_api.middleware.bodycap import BodyCapMiddleware
from exchange_api.middleware.idempotency import IdempotencyMiddleware
from exchange_api.middleware.logs import configure_logging
from exchange_api.middleware.metrics import Metrics
from exchange_api.middleware.notary import RequestNotary
from exchange_api.middleware.ratelimit import RateLimitMiddleware
from exchange_api.middleware.request import RequestMiddleware
from exchange_api.models import Member
from exchange_api.routes import (
    approvals,
    audit,
    auth,
    blobs,
    catalog,
    health,
    jobs,
    listings,
    programs,
    settlement,
    tx,
)
from exchange_api.services.housekeeping import housekeeping_loop
from exchange_api.web import make_console_router
from notarizer.log import TransparencyLog

DESCRIPTION = """Catalog and compute-contract workflow of the data exchange.

Errors are RFC 9457 `application/problem+json` documents. Writes accept an `Idempotency-Key` header.
Sign in with Ethereum (EIP-4361): `GET /v1/auth/nonce`, sign the message, `POST /v1/auth/login`,
then send `Authorization: Bearer <token>`."""
# The routers in the order they appear in the OpenAPI document (the console and audit come after).
ROUTERS = [health, auth, catalog, blobs, listings, jobs, programs, approvals, settlement, tx]
TAGS = ("catalog", "auth", "listings", "jobs", "settlement", "tx", "blobs", "audit", "ops")


def _db_roles(engine: Engine) -> Callable[[str], int]:
    def lookup(address: str) -> int:
        with engine.connect() as conn:
            roles = conn.execute(
                select(Member.__table__.c.roles).where(Member.__table__.c.address == address)
            ).first()
        return int(roles[0]) if roles else 0

    return lookup


def build_context(settings: Settings, *, migrate: bool = True) -> AppContext:
    """Everything the routes need; `migrate` runs Alembic `upgrade head` first."""
    engine = make_engine(settings.resolved_database_url)
    if migrate:
        upgrade_head(engine)  # the transparency log's log_* tables too (migration 0003)
    metrics = Metrics()
    tlog = TransparencyLog(engine)
    chain = open_chain(settings)
    roles = RoleCache(chain.member_roles if chain is not None else _db_roles(engine))
    ctx = AppContext(
        settings=settings,
        engine=engine,
        blobs=open_blob_store(settings),
        metrics=metrics,
        notary=RequestNotary(tlog, metrics, anonymous_per_minute=settings.notary_anonymous_per_minute),
        roles=roles,
        catalog=CatalogIndex(engine),
        log=tlog,
        chain=chain,
    )
    if chain is not None:
        ctx.indexer = Indexer(ctx)
    return ctx


def serve_command(port: int, *, workers: int | None = None) -> list[str]:
    """The command line that serves this app with uvicorn on 127.0.0.1:`port` (tests and benchmarks)."""
    workers_args = ["--workers", str(workers)] if workers is not None else []
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "exchange_api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *workers_args,
        "--no-access-log",
    ]


def create_app(
    settings: Settings | None = None, *, run_indexer: bool = True, run_housekeeping: bool = True
) -> FastAPI:
    """The exchange API. Pass `settings` to override the environment (tests do); `run_housekeeping` starts
    the loop that purges expired rows, collects unreferenced blobs and polls pending receipts."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    ctx = build_context(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Long-lived objects made so far (modules, routes, metadata) never become garbage: keep the
        # cyclic collector from re-scanning them on every full collection (latency spikes under load).
        gc.freeze()
        ctx.notary.start()
        indexer = ctx.indexer if run_indexer else None
        task = asyncio.create_task(indexer.run_forever()) if indexer is not None else None
        stop_upkeep = asyncio.Event()
        upkeep = asyncio.create_task(housekeeping_loop(ctx, stop_upkeep)) if run_housekeeping else None
        try:
            yield
        finally:
            if upkeep is not None:
                stop_upkeep.set()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await upkeep
            if indexer is not None and task is not None:
                indexer.stop()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            ctx.notary.stop()
            ctx.engine.dispose()

    app = FastAPI(
        title="Data exchange API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[{"name": n} for n in TAGS],
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    app.include_router(make_console_router())
    chain = ctx.chain
    ledger = (lambda: chain.ledger) if chain is not None else None
    app.include_router(
        audit.make_audit_router(ctx.log, require_regulator, ledger_provider=ledger), prefix="/v1"
    )
    # Outermost last: request id, log and notary see every answer, the 413s and 429s included.
    app.add_middleware(
        IdempotencyMiddleware,
        engine=ctx.engine,
        ttl_seconds=settings.idempotency_ttl_seconds,
        max_body=settings.max_body_bytes,
    )
    app.add_middleware(RateLimitMiddleware, engine=ctx.engine, settings=settings, metrics=ctx.metrics)
    app.add_middleware(BodyCapMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMiddleware, metrics=ctx.metrics, notary=ctx.notary)
    return app
