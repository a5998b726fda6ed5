"""`python -m exchange_api`: serve the API with uvicorn on the configured host and port."""

from __future__ import annotations

import argparse

import uvicorn

from dx_core.settings import get_settings
from exchange_api.db import make_engine, upgrade_head


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Run the exchange API.")
    parser.add_argument("--host", default=settings.api_host)
    parser.add_argument("--port", type=int, default=settings.api_port)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # Migrate once here so that several workers do not race to create the schema.
    engine = make_engine(settings.resolved_database_url)
    upgrade_head(engine)
    engine.dispose()
    uvicorn.run(
        "exchange_api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
