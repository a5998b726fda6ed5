"""FastAPI router serving the console's HTML shell and its static ES modules under /console."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from contracts.artifacts import CONTRACT_NAMES, ArtifactNotFound, abi
from dx_core.settings import get_settings

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

# Everything the pages load comes from this origin; the wallet lives in the browser, not on a CDN. The page
# also calls a chain JSON-RPC: the server's (named) or the one the user configured as a trust anchor, which
# the server cannot know, hence any http(s) origin for connect-src. Scripts stay 'self' only.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'{rpc} http: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _security_headers(rpc_url: str = "") -> dict[str, str]:
    parts = urlsplit(rpc_url) if rpc_url else None
    origin = f" {parts.scheme}://{parts.netloc}" if parts and parts.scheme in ("http", "https") else ""
    return {**_HEADERS, "Content-Security-Policy": _CSP.format(rpc=origin)}


def chain_config() -> tuple[str, dict[str, str]]:
    """(RPC URL, contract addresses by name) the pages read the chain with; {} before a deployment exists."""
    settings = get_settings()
    addresses: dict[str, str] = {}
    try:
        data = json.loads(settings.resolved_deployment_file.read_text(encoding="utf-8"))
        addresses = {str(k): str(v) for k, v in data.get("addresses", {}).items()}
    except (OSError, ValueError, AttributeError):
        pass  # no deployment yet: the pages say the on-chain check is unavailable
    return settings.rpc_url, addresses


class StaticPathError(ValueError):
    """A requested static path escapes the console's static directory or names no file."""


def resolve_static(path: str) -> Path:
    """The file under STATIC_DIR that `path` names; refuses anything that would leave that directory."""
    candidate = (STATIC_DIR / path).resolve()
    if STATIC_DIR not in candidate.parents or not candidate.is_file():
        raise StaticPathError(f"no console asset at {path!r}")
    return candidate


class ConsoleStaticFiles(StaticFiles):
    """Starlette's static files, resolved by `resolve_static`, with the console's types and headers."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC_DIR)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        try:
            file = resolve_static(path)
        except StaticPathError as exc:
            # the app's problem handler turns this into the 404 problem naming the missing asset
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        return str(file), file.stat()

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        media = _MEDIA_TYPES.get(Path(full_path).suffix)
        if media is not None:
            response.headers["content-type"] = media
        response.headers.update(_security_headers())
        return response


def render_shell(
    api_base: str, prefix: str, rpc_url: str = "", contracts: dict[str, str] | None = None
) -> str:
    """The one HTML page of the console; the ES modules route between views on the client."""
    contracts = contracts or {}
    values = {
        "API_BASE": api_base,
        "PREFIX": prefix,
        "RPC_URL": rpc_url,
        "NOTARY": contracts.get("Notary", ""),
        "CONTRACTS": json.dumps(contracts, sort_keys=True),
    }
    page = SHELL_FILE.read_text(encoding="utf-8")
    for key, value in values.items():
        page = page.replace("{{" + key + "}}", html.escape(value, quote=True))
    return page


def make_console_router(api_base: str = "/v1", prefix: str = CONSOLE_PREFIX) -> APIRouter:
    """Routes for the console: `<prefix>/static/...` assets and the shell for every other `<prefix>/...` path.

    `api_base` is where the pages find the JSON API (same origin, so bearer tokens never cross origins).
    The chain RPC URL and Notary address come from the settings and the deployment file at each request.
    """
    router = APIRouter(prefix=prefix, include_in_schema=False)

    @router.get("")
    def console_root() -> RedirectResponse:
        return RedirectResponse(f"{prefix}/", status_code=307)

    # APIRouter's prefix applies to its routes, not to its mounts: the mount names the full path.
    router.mount(f"{prefix}/static", ConsoleStaticFiles(), name="console-static")

    @router.get("/abi/{name}.json")
    def contract_abi(name: str) -> JSONResponse:
        # The ABI is part of the console's code: the pages decode on-chain structs by its field names.
        if name not in CONTRACT_NAMES:
            known = ", ".join(CONTRACT_NAMES)
            raise HTTPException(status_code=404, detail=f"no contract {name!r}: the console knows {known}")
        try:
            return JSONResponse(abi(name), headers=_security_headers())
        except ArtifactNotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc

    @router.get("/{page:path}")
    def console_page(page: str) -> HTMLResponse:
        rpc_url, contracts = chain_config()
        shell = render_shell(api_base, prefix, rpc_url, contracts)
        return HTMLResponse(shell, headers=_security_headers(rpc_url))

    return router
