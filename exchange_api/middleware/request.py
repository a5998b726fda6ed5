"""One ASGI middleware for every request: request id, JSON access log, latency metric, notarization
(anonymous requests within the notary's per-IP bound)."""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from typing import Any

from exchange_api.middleware.logs import request_id_var
from exchange_api.middleware.metrics import Metrics
from exchange_api.middleware.notary import RequestNotary

log = logging.getLogger("exchange_api.request")
_RID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Scrapes and probes are not business requests: measured, but neither logged nor notarized.
_QUIET = {"/metrics", "/health", "/livez"}


class RequestMiddleware:
    """Pure ASGI (no body buffering): hashes the body as it streams through to the route."""

    def __init__(self, app: Any, metrics: Metrics, notary: RequestNotary) -> None:
        self.app = app
        self.metrics = metrics
        self.notary = notary

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = ""
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                rid = candidate if _RID_RE.match(candidate) else ""
                break
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        hasher = hashlib.sha256()
        status = [500]

        async def hashing_receive() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                hasher.update(message.get("body", b""))
            return message

        async def tagging_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, hashing_receive, tagging_send)
        finally:
            elapsed = time.perf_counter() - start
            route_obj = scope.get("route")
            route = getattr(route_obj, "path", None) or "<unmatched>"
            method = scope["method"]
            self.metrics.request_latency.labels(method, route, str(status[0])).observe(elapsed)
            if scope["path"] not in _QUIET:
                actor = scope["state"].get("actor", "")
                log.info(
                    "%s %s %d",
                    method,
                    scope["path"],
                    status[0],
                    extra={
                        "route": route,
                        "status": status[0],
                        "ms": round(elapsed * 1000, 2),
                        "actor": actor or None,
                    },
                )
                client = scope.get("client")
                if actor or self.notary.admit_anonymous(str(client[0]) if client else "unknown"):
                    self.notary.submit(actor, method, route, hasher.hexdigest(), status[0], rid)
                else:
                    self.metrics.notarize_skipped.inc()
            request_id_var.reset(token)
