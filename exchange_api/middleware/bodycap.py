"""A cap on every request body (blob uploads excepted: they stream under their own, larger limit)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from exchange_api.errors import problem_response

# Blob uploads stream to disk with the route's own limit (DX_MAX_BLOB_BYTES).
EXEMPT = ("/v1/blobs",)


class BodyCapMiddleware:
    """Pure ASGI: buffers at most `max_bytes` of a body; one byte more is a 413 before any route runs."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, f"Content-Length {int(declared)}")
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, receive, send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send, f"a body of at least {len(body)} bytes")
                return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict, receive: Any, send: Any, what: str) -> None:
        response = problem_response(
            Request(scope),
            413,
            f"{what} exceeds the {self.max_bytes}-byte request body limit (DX_MAX_BODY_BYTES); "
            "blobs go to PUT /v1/blobs",
            slug="payload-too-large",
            title="Payload too large",
        )
        await response(scope, receive, send)
