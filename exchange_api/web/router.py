"""FastAPI router serving the console's HTML shell and its static ES modules under /console."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

CONSOLE_PREFIX = "/console"
WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
SHELL_FILE = WEB_DIR / "shell.html"

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}

# Everything the pages load comes from this origin; the wallet lives in the browser, not on a CDN.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class StaticPathError(ValueError):
    """A requested static path escapes the console's static directory or names no file."""


def resolve_static(path: str) -> Path:
    """The file under STATIC_DIR that `path` names; refuses anything that would leave that directory."""
    candidate = (STATIC_DIR / path).resolve()
    if STATIC_DIR not in candidate.parents or not candidate.is_file():
        raise StaticPathError(f"no console asset at {path!r}")
    return candidate


def render_shell(api_base: str, prefix: str) -> str:
    """The one HTML page of the console; the ES modules route between views on the client."""
    return (
        SHELL_FILE.read_text(encoding="utf-8")
        .replace("{{API_BASE}}", html.escape(api_base, quote=True))
        .replace("{{PREFIX}}", html.escape(prefix, quote=True))
    )


def make_console_router(api_base: str = "/v1", prefix: str = CONSOLE_PREFIX) -> APIRouter:
    """Routes for the console: `<prefix>/static/...` assets and the shell for every other `<prefix>/...` path.

    `api_base` is where the pages find the JSON API (same origin, so bearer tokens never cross origins).
    """
    router = APIRouter(prefix=prefix, include_in_schema=False)
    shell = render_shell(api_base, prefix)

    @router.get("")
    def console_root() -> RedirectResponse:
        return RedirectResponse(f"{prefix}/", status_code=307)

    @router.get("/static/{path:path}")
    def console_static(path: str) -> FileResponse:
        try:
            file = resolve_static(path)
        except StaticPathError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        media = _MEDIA_TYPES.get(file.suffix, "application/octet-stream")
        return FileResponse(file, media_type=media, headers=_SECURITY_HEADERS)

    @router.get("/{page:path}")
    def console_page(page: str) -> HTMLResponse:
        return HTMLResponse(shell, headers=_SECURITY_HEADERS)

    return router
