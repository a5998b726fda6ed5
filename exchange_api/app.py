"""The FastAPI app factory: wires settings, database, blob store, chain, log, indexer and routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from dx_core.blobstore import IpfsBlobStore, LocalBlobStore
from dx_core.settings import Settings, get_settings
from exchange_api import auth, blobs, catalog, health
from exchange_api.context import AppContext, RoleCache
from exchange_api.db import make_engine, upgrade_head
from exchange_api.errors import install_error_handlers
from exchange_api.idempotency import IdempotencyMiddleware
from exchange_api.logs import configure_logging
from exchange_api.metrics import Metrics
from exchange_api.middleware import RequestMiddleware
from exchange_api.models import Member
from exchange_api.notary import RequestNotary

log = logging.getLogger("exchange_api")
DESCRIPTION = """Catalog and compute-contract workflow of the data exchange.

Errors are RFC 9457 `application/problem+json` documents. Writes accept an `Idempotency-Key` header.
Sign in with Ethereum (EIP-4361): `GET /v1/auth/nonce`, sign the message, `POST /v1/auth/login`,
then send `Authorization: Bearer <token>`."""


def _blob_store(settings: Settings) -> Any:
    if settings.blob_backend == "ipfs":
        return IpfsBlobStore(settings.ipfs_api_url, settings.max_blob_bytes)
    return LocalBlobStore(settings.resolved_blob_dir, settings.max_blob_bytes)


def _transparency_log(engine: Any) -> Any:
    try:
        from notarizer.log import TransparencyLog, create_tables
    except ModuleNotFoundError:
        log.warning("notarizer not installed: requests are not notarized")
        return None
    create_tables(engine)
    return TransparencyLog(engine)


def _db_roles(engine: Any):  # type: ignore[no-untyped-def]
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
        upgrade_head(engine)
    metrics = Metrics()
    tlog = _transparency_log(engine)
    from exchange_api.chain import open_chain

    chain = open_chain(settings, metrics)
    roles = RoleCache(chain.member_roles if chain is not None else _db_roles(engine))
    ctx = AppContext(
        settings=settings,
        engine=engine,
        blobs=_blob_store(settings),
        metrics=metrics,
        notary=RequestNotary(tlog, metrics),
        roles=roles,
        chain=chain,
        log=tlog,
    )
    from exchange_api.catalog import _OUT_COLUMNS
    from exchange_api.catalog_index import CatalogIndex

    ctx.extra["catalog_index"] = CatalogIndex(engine, _OUT_COLUMNS)
    if chain is not None:
        from exchange_api.indexer import Indexer

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


def create_app(settings: Settings | None = None, *, run_indexer: bool = True) -> FastAPI:
    """The exchange API. Pass `settings` to override the environment (tests do)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    ctx = build_context(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Long-lived objects made so far (modules, routes, metadata) never become garbage: keep the
        # cyclic collector from re-scanning them on every full collection (latency spikes under load).
        gc.freeze()
        ctx.notary.start()
        task = None
        if ctx.indexer is not None and run_indexer:
            task = asyncio.create_task(ctx.indexer.run_forever())
        try:
            yield
        finally:
            if task is not None:
                ctx.indexer.stop()
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
        openapi_tags=[
            {"name": n}
            for n in ("catalog", "auth", "listings", "jobs", "nodes", "tx", "blobs", "audit", "ops")
        ],
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    for module in (health, auth, catalog, blobs):
        app.include_router(module.router)
    _include_workflow(app, ctx)
    app.add_middleware(IdempotencyMiddleware, engine=ctx.engine)
    app.add_middleware(RequestMiddleware, metrics=ctx.metrics, notary=ctx.notary)
    return app


def _include_workflow(app: FastAPI, ctx: AppContext) -> None:
    from exchange_api import workflow

    for router in workflow.routers():
        app.include_router(router)
    try:
        from exchange_api.web import make_console_router
    except ModuleNotFoundError:
        pass
    else:
        app.include_router(make_console_router())
    if ctx.log is not None:
        try:
            from notarizer.api import make_audit_router
        except ModuleNotFoundError:
            return
        ledger = (lambda: ctx.chain.ledger) if ctx.chain is not None else None
        app.include_router(
            make_audit_router(ctx.log, auth.require_regulator, ledger_provider=ledger), prefix="/v1"
        )
