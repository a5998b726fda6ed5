"""Operational routes: GET /health (chain, database, blob store, indexer lag) and GET /metrics."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from exchange_api.deps import CtxDep
from exchange_api.schemas import CheckOut, HealthOut

router = APIRouter(tags=["ops"])
MAX_HEALTHY_LAG = 50


def _check(fn: Callable[[], object]) -> CheckOut:
    try:
        detail = fn()
        return CheckOut(ok=True, detail=str(detail or ""))
    except Exception as exc:
        return CheckOut(ok=False, detail=f"{type(exc).__name__}: {exc}")


@router.get(
    "/health",
    response_model=HealthOut,
    summary="Liveness and dependency checks",
    responses={503: {"model": HealthOut, "description": "a dependency is failing"}},
)
def health(ctx: CtxDep) -> JSONResponse:
    def db() -> str:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return ctx.engine.dialect.name

    def blobs() -> str:
        ctx.blobs.has("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
        return type(ctx.blobs).__name__

    checks = {"database": _check(db), "blob_store": _check(blobs)}
    lag = None
    chain = ctx.chain
    if chain is not None:
        checks["chain"] = _check(lambda: f"block {chain.block_number()}")
    else:
        checks["chain"] = CheckOut(ok=False, detail="no deployment configured")
    if ctx.indexer is not None:
        lag = ctx.indexer.lag
        ok = lag is not None and lag <= MAX_HEALTHY_LAG
        checks["indexer"] = CheckOut(ok=ok, detail=f"lag {lag} blocks" if lag is not None else "not started")
    healthy = all(c.ok for c in checks.values())
    out = HealthOut(status="ok" if healthy else "degraded", checks=checks, indexer_lag=lag)
    return JSONResponse(out.model_dump(), status_code=200 if healthy else 503)


@router.get("/livez", summary="Liveness: the process serves requests (no dependency checks)")
def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "text exposition format"}},
)
def metrics(ctx: CtxDep) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
