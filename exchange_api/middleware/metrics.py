"""Prometheus metrics of one app instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's instruments: request latency by route, indexer lag, relay and notarization failures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_latency = Histogram(
            "dx_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.indexer_lag = Gauge(
            "dx_indexer_lag_blocks",
            "chain head minus the last block the indexer processed",
            registry=self.registry,
        )
        self.indexer_last_block = Gauge(
            "dx_indexer_last_block", "last block the indexer processed", registry=self.registry
        )
        self.indexer_reorgs = Counter(
            "dx_indexer_reorgs_total",
            "reorgs or chain restarts the indexer rolled back",
            registry=self.registry,
        )
        self.relay_failures = Counter(
            "dx_relay_failures_total",
            "relayed transactions that failed or reverted",
            ["kind"],
            registry=self.registry,
        )
        self.relayed = Counter(
            "dx_relayed_total", "transactions relayed to the chain", ["kind"], registry=self.registry
        )
        self.notarize_failures = Counter(
            "dx_notarize_failures_total",
            "request log entries that could not be appended",
            registry=self.registry,
        )
        self.notarize_skipped = Counter(
            "dx_notarize_anonymous_skipped_total",
            "anonymous requests past the per-IP notarization bound (logged, not notarized)",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "dx_rate_limited_total", "requests refused by a rate limit", ["limit"], registry=self.registry
        )
        self.notarize_backlog = Gauge(
            "dx_notarize_backlog", "request log entries waiting to be appended", registry=self.registry
        )
