"""The exchange API app with the console mounted (a no-op wrapper once the app factory mounts it itself)."""

from __future__ import annotations

from fastapi import FastAPI

from exchange_api.app import create_app as create_exchange_app
from exchange_api.web import CONSOLE_PREFIX, make_console_router


def create_app() -> FastAPI:
    app = create_exchange_app()
    if not any(str(getattr(r, "path", "")).startswith(CONSOLE_PREFIX) for r in app.routes):
        app.include_router(make_console_router())
    return app
