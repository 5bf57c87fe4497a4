"""Prometheus metrics of one service instance, kept in its own registry.

A registry per app (not the process-wide default) lets tests and embedders
create several apps in one process without duplicate-metric errors.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Seconds; from sub-millisecond health checks to multi-second large requests.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

# The endpoint label of requests that matched no route, so unknown paths
# cannot create an unbounded number of label values.
UNMATCHED = "<unmatched>"


class ServiceMetrics:
    """Request, scoring and error counters, exposed at /metrics."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "unseen_http_requests",
            "HTTP requests by endpoint (route template), method and status code.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "unseen_http_request_duration_seconds",
            "Time from receiving a request to sending the last byte of its response.",
            ["endpoint", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows_scored = Counter(
            "unseen_rows_scored", "Records scored, by model.", ["model"], registry=self.registry
        )
        self.anomalies = Counter(
            "unseen_anomalies_flagged",
            "Records flagged as anomalous, by model.",
            ["model"],
            registry=self.registry,
        )
        self.errors = Counter(
            "unseen_errors",
            "Error responses by kind (invalid_input, payload_too_large, internal, ...).",
            ["kind"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "unseen_batch_size",
            "Records per micro-batched scoring call, by model.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.models_loaded = Gauge(
            "unseen_models_loaded", "Models this instance serves.", registry=self.registry
        )

    def observe_request(self, endpoint: str, method: str, status: int, duration_s: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint, method).observe(duration_s)

    def observe_scoring(self, model: str, n_rows: int, n_anomalies: int) -> None:
        self.rows_scored.labels(model).inc(n_rows)
        self.anomalies.labels(model).inc(n_anomalies)

    def render(self) -> bytes:
        return generate_latest(self.registry)
