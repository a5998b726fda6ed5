"""The exchange service: FastAPI + SQLModel API for the catalog and the compute-contract workflow."""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Lazy re-export of exchange_api.app.create_app (keeps `import exchange_api.client` light)."""
    from exchange_api.app import create_app as _create_app

    return _create_app(*args, **kwargs)
