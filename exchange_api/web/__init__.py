"""The web console: catalog, sign-in, seller approvals, buyer jobs and the regulator's audit dashboard."""

from exchange_api.web.router import CONSOLE_PREFIX, STATIC_DIR, make_console_router

__all__ = ["CONSOLE_PREFIX", "STATIC_DIR", "make_console_router"]
