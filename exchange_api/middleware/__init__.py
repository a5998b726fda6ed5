"""ASGI middleware and what it feeds: request ids and JSON logs, metrics, notarization, idempotency."""
