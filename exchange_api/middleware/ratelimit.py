"""Rate limits per client IP and per signed-in member on sign-in, blob uploads and relayed transactions.

The buckets live in the database (`rate_bucket`), not in the worker: the API runs as several uvicorn
worker processes, and an in-process bucket would give each caller workers x the limit and forget it on
every restart. Taking a token is one atomic UPDATE (refill, cap, take), so no two workers both take the
last token; only the limited routes pay for it.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, case, delete, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from dx_core.settings import Settings
from exchange_api.errors import problem_response
from exchange_api.middleware.metrics import Metrics
from exchange_api.models import AuthToken, RateBucket

B = RateBucket.__table__
T = AuthToken.__table__


@dataclass(frozen=True)
class Limit:
    """Requests matching `method` + `path`: `ip_per_minute` per client IP, `per_minute` per member."""

    name: str
    setting: str  # the DX_ variable that sets it, named in the 429
    method: str
    path: re.Pattern[str]
    per_minute: int  # per member; 0 when the route has no member yet (sign-in)
    ip_per_minute: int


def limits_from(settings: Settings) -> list[Limit]:
    """The limits the API enforces; a limit set to 0 is off."""
    signin = settings.rate_signin_per_minute
    upload, relay = settings.rate_upload_per_minute, settings.rate_relay_per_minute
    factor = max(settings.rate_ip_factor, 1)
    # Sign-in has no member yet: per IP only. One IP may be many members' gateway: it gets `factor` times
    # a member's limit. Relays are every route that sends a transaction.
    out = [
        Limit("sign-in", "DX_RATE_SIGNIN_PER_MINUTE", "GET", re.compile(r"^/v1/auth/nonce$"), 0, signin),
        Limit("sign-in", "DX_RATE_SIGNIN_PER_MINUTE", "POST", re.compile(r"^/v1/auth/login$"), 0, signin),
        Limit(
            "upload",
            "DX_RATE_UPLOAD_PER_MINUTE",
            "PUT",
            re.compile(r"^/v1/blobs/?$"),
            upload,
            upload * factor,
        ),
        Limit(
            "relay",
            "DX_RATE_RELAY_PER_MINUTE",
            "POST",
            re.compile(r"^/v1/tx/(relay|track)$"),
            relay,
            relay * factor,
        ),
        Limit(
            "relay",
            "DX_RATE_RELAY_PER_MINUTE",
            "POST",
            re.compile(r"^/v1/jobs/[^/]+/(approvals|declines)$"),
            relay,
            relay * factor,
        ),
    ]
    return [limit for limit in out if limit.ip_per_minute > 0]


def take_token(
    engine: Engine, key: str, capacity: float, per_second: float, now: float | None = None
) -> float:
    """Take one token from bucket `key`; 0.0 if taken, else the seconds until one is available."""
    now = time.time() if now is None else now
    elapsed = case((B.c.updated < now, literal(now) - B.c.updated), else_=literal(0.0))
    refilled = B.c.tokens + elapsed * per_second
    level = case((refilled > capacity, literal(float(capacity))), else_=refilled)
    for _ in range(2):
        with engine.begin() as conn:
            taken = conn.execute(
                update(B).where(and_(B.c.key == key, level >= 1.0)).values(tokens=level - 1.0, updated=now)
            ).rowcount
            if taken == 1:
                return 0.0
            row = conn.execute(select(B.c.tokens, B.c.updated).where(B.c.key == key)).first()
        if row is not None:
            current = min(capacity, row.tokens + max(0.0, now - row.updated) * per_second)
            return max((1.0 - current) / per_second, 0.001)
        try:
            with engine.begin() as conn:
                conn.execute(insert(B).values(key=key, tokens=capacity - 1.0, updated=now))
            return 0.0
        except IntegrityError:
            continue  # another worker made the bucket first: take from it
    return 1.0 / per_second


def purge_idle_buckets(engine: Engine, idle_seconds: float = 600.0, now: float | None = None) -> int:
    """Delete buckets untouched for `idle_seconds` (full again by then, so nothing is forgotten)."""
    now = time.time() if now is None else now
    with engine.begin() as conn:
        return conn.execute(delete(B).where(B.c.updated < now - idle_seconds)).rowcount or 0


def client_ip(scope: dict) -> str:
    """The peer address. Forwarded headers are not trusted: any caller could set them."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RateLimitMiddleware:
    """Pure ASGI: 429 problem+json with Retry-After once a caller's bucket for a limited route is empty."""

    def __init__(self, app: Any, engine: Engine, settings: Settings, metrics: Metrics | None = None) -> None:
        self.app = app
        self.engine = engine
        self.limits = limits_from(settings)
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next(
            (x for x in self.limits if x.method == scope["method"] and x.path.match(scope["path"])), None
        )
        if limit is None:
            await self.app(scope, receive, send)
            return
        refused = await run_in_threadpool(self._check, limit, scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        who, per_minute, retry_after = refused
        if self.metrics is not None:
            self.metrics.rate_limited.labels(limit.name).inc()
        seconds = max(1, math.ceil(retry_after))
        setting = (
            limit.setting
            if who == "member" or limit.per_minute == 0
            else f"{limit.setting} x DX_RATE_IP_FACTOR"
        )
        response = problem_response(
            Request(scope),
            429,
            f"rate limit {limit.name!r} exceeded: at most {per_minute} requests per minute per {who} "
            f"({setting}); retry after {seconds} s",
            slug="rate-limited",
            title="Too many requests",
            extra={"limit": {"name": limit.name, "per": who, "per_minute": per_minute}},
            headers={"Retry-After": str(seconds)},
        )
        await response(scope, receive, send)

    def _check(self, limit: Limit, scope: dict) -> tuple[str, int, float] | None:
        ip_rate = limit.ip_per_minute
        wait = take_token(self.engine, f"{limit.name}:ip:{client_ip(scope)}", ip_rate, ip_rate / 60.0)
        if wait:
            return "client IP", ip_rate, wait
        actor = self._actor(scope) if limit.per_minute > 0 else None
        if actor is not None:
            rate = limit.per_minute
            wait = take_token(self.engine, f"{limit.name}:actor:{actor}", rate, rate / 60.0)
            if wait:
                return "member", rate, wait
        return None

    def _actor(self, scope: dict) -> str | None:
        """The member a valid bearer token names (an invalid one gets its 401 from the route)."""
        header = dict(scope.get("headers", ())).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        with self.engine.connect() as conn:
            row = conn.execute(select(T.c.address, T.c.expires_at).where(T.c.token_hash == digest)).first()
        if row is None:
            return None
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        return str(row.address) if expires > datetime.now(UTC) else None
