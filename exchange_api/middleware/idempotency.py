"""Idempotency-Key for writes: the same key and body replay the stored response; a different body is a 409.

Sign-in routes are never stored (their answer is a bearer token), no stored body may hold a secret, and a
record replays for `ttl_seconds` only: past that it is deleted (on the next use of its key, and by the
periodic purge).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from exchange_api.errors import problem_response
from exchange_api.models import IdempotencyRecord

log = logging.getLogger("exchange_api.idempotency")
R = IdempotencyRecord.__table__
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
MAX_BODY = 1024 * 1024
MAX_KEY = 200
# Blob uploads are content-addressed, so idempotent already; sign-in answers with a bearer token, which a
# replay would hand to anyone holding the (logged, guessable) key and the signed message.
NEVER_STORED = ("/v1/blobs", "/v1/auth/")
SECRET_FIELDS = {"token", "access_token", "refresh_token", "id_token", "secret", "private_key", "password"}


def holds_secret(content_type: str, body: bytes) -> bool:
    """Whether a response body carries a credential: a secret-named JSON field, or a bearer token."""
    if b"bearer " in body.lower():
        return True
    if "json" not in content_type:
        return False
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if any(str(k).lower() in SECRET_FIELDS for k in item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def purge_expired(engine: Engine, ttl_seconds: float, now: datetime | None = None) -> int:
    """Delete the records older than the TTL; returns how many went."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=ttl_seconds)
    with engine.begin() as conn:
        return conn.execute(delete(R).where(R.c.created_at < cutoff)).rowcount or 0


class IdempotencyMiddleware:
    """Pure ASGI: records the first response per (caller, key); replays it for an identical retry."""

    def __init__(
        self, app: Any, engine: Engine, ttl_seconds: float = 24 * 3600, max_body: int = MAX_BODY
    ) -> None:
        self.app = app
        self.engine = engine
        self.ttl = timedelta(seconds=ttl_seconds)
        self.max_body = max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        key_raw = headers.get(b"idempotency-key")
        if key_raw is None or scope["path"].startswith(NEVER_STORED):
            await self.app(scope, receive, send)
            return
        key = key_raw.decode("latin-1")
        if not key or len(key) > MAX_KEY:
            await _problem(
                scope,
                receive,
                send,
                400,
                "bad-request",
                "Bad request",
                f"Idempotency-Key must be 1..{MAX_KEY} characters",
            )
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                await _problem(
                    scope,
                    receive,
                    send,
                    413,
                    "payload-too-large",
                    "Payload too large",
                    f"a write with an Idempotency-Key may carry at most {self.max_body} bytes",
                )
                return
        actor = hashlib.sha256(headers.get(b"authorization", b"")).hexdigest()
        request_hash = hashlib.sha256(
            scope["method"].encode()
            + b" "
            + scope["path"].encode()
            + b"?"
            + scope.get("query_string", b"")
            + b"\n"
            + body
        ).hexdigest()
        claimed = await run_in_threadpool(self._claim, actor, key, scope, request_hash)
        if claimed is not None:
            stored_hash, status, content_type, stored_body = claimed
            if stored_hash != request_hash:
                await _problem(
                    scope,
                    receive,
                    send,
                    409,
                    "idempotency-key-reuse",
                    "Idempotency-Key reused",
                    f"Idempotency-Key {key!r} was already used with a different request",
                )
            elif status is None:
                await _problem(
                    scope,
                    receive,
                    send,
                    409,
                    "idempotency-in-progress",
                    "Request in progress",
                    f"the first request with Idempotency-Key {key!r} is still being processed",
                )
            else:
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [
                            (b"content-type", content_type.encode()),
                            (b"idempotent-replayed", b"true"),
                            (b"content-length", str(len(stored_body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": stored_body})
            return

        sent_body = False

        async def replay_receive() -> dict:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        captured: dict[str, Any] = {"status": 500, "content_type": "application/json", "body": b""}

        async def capture_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        captured["content_type"] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        except Exception:
            await run_in_threadpool(self._release, actor, key)
            raise
        if captured["status"] >= 500:
            # A server fault is not an answer worth replaying: let the client retry for real.
            await run_in_threadpool(self._release, actor, key)
        elif holds_secret(captured["content_type"], captured["body"]):
            # Refuse to keep a credential at rest: the retry runs for real instead of replaying it.
            log.warning(
                "not storing the response to %s %s: it holds a secret", scope["method"], scope["path"]
            )
            await run_in_threadpool(self._release, actor, key)
        else:
            await run_in_threadpool(self._store, actor, key, captured)

    def _claim(self, actor: str, key: str, scope: dict, request_hash: str) -> tuple | None:
        """Insert an in-progress record; if a live one exists already, return what it holds."""
        claimed = self._try_claim(actor, key, scope, request_hash)
        if claimed is None:
            return None
        cutoff = datetime.now(UTC) - self.ttl
        if claimed[4] >= cutoff:
            return claimed[:4]
        # Expired: it neither replays nor conflicts; it goes, and this request claims the key afresh.
        with self.engine.begin() as conn:
            conn.execute(delete(R).where(R.c.actor == actor, R.c.key == key, R.c.created_at < cutoff))
        again = self._try_claim(actor, key, scope, request_hash)
        return None if again is None else again[:4]

    def _try_claim(self, actor: str, key: str, scope: dict, request_hash: str) -> tuple | None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(R).values(
                        actor=actor,
                        key=key,
                        method=scope["method"],
                        path=scope["path"][:500],
                        request_hash=request_hash,
                        status_code=None,
                        content_type="",
                        body=b"",
                        created_at=IdempotencyRecord().created_at,
                    )
                )
            return None
        except IntegrityError:
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(
                        R.c.request_hash, R.c.status_code, R.c.content_type, R.c.body, R.c.created_at
                    ).where(R.c.actor == actor, R.c.key == key)
                ).one()
            created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
            return (*tuple(row)[:4], created)

    def _store(self, actor: str, key: str, captured: dict) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(R)
                .where(R.c.actor == actor, R.c.key == key)
                .values(
                    status_code=captured["status"],
                    content_type=captured["content_type"],
                    body=captured["body"],
                )
            )

    def _release(self, actor: str, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(R).where(R.c.actor == actor, R.c.key == key))


async def _problem(
    scope: dict, receive: Any, send: Any, status: int, slug: str, title: str, detail: str
) -> None:
    """Answer with the API's one problem+json document (errors.problem_response)."""
    response = problem_response(Request(scope), status, detail, slug=slug, title=title)
    await response(scope, receive, send)
