"""Prometheus metrics of one server (prometheus-client), in a registry of their own per app, so several servers in
one process (tests, benchmarks) never collide."""

from __future__ import annotations

from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
TOKEN_BUCKETS = (16, 64, 256, 1024, 4096, 16384, 65536, 262144)


class ServerMetrics:
    """The server's metrics: queue depth, requests in flight, batch sizes (items, tokens), model time, tokens/s,
    request latency by route, requests by route and status, refusals and item errors.

    Example:
        >>> m = ServerMetrics()
        >>> m.observe_batch(n_items=4, n_tokens=120, seconds=0.01, error_kinds=[])
        >>> b"rewardlab_tokens_total 120.0" in m.render()
        True
    """

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        r = self.registry = CollectorRegistry()
        self.queue_depth = Gauge("rewardlab_queue_depth", "Requests waiting for the model.", registry=r)
        self.in_flight = Gauge("rewardlab_requests_in_flight", "Inference requests being served.", registry=r)
        self.requests = Counter("rewardlab_requests", "HTTP requests by route and status.", ["route", "status"],
                                registry=r)
        self.latency = Histogram("rewardlab_request_latency_seconds", "Request latency by route.", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.batch_items = Histogram("rewardlab_batch_items", "Items per model batch (all requests it served).",
                                     buckets=SIZE_BUCKETS, registry=r)
        self.batch_requests = Histogram("rewardlab_batch_requests", "Requests per model batch.",
                                        buckets=SIZE_BUCKETS, registry=r)
        self.batch_tokens = Histogram("rewardlab_batch_tokens", "Tokens per model batch.", buckets=TOKEN_BUCKETS,
                                      registry=r)
        self.model_seconds = Histogram("rewardlab_model_seconds", "Seconds per model batch (render + forward).",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("rewardlab_tokens", "Tokens scored.", registry=r)
        self.items = Counter("rewardlab_items", "Items scored (errors included).", registry=r)
        self.tokens_per_second = Gauge("rewardlab_tokens_per_second", "Tokens per model second, last batch.",
                                       registry=r)
        self.rejected = Counter("rewardlab_rejected", "Requests refused before the model, by reason.", ["reason"],
                                registry=r)
        self.item_errors = Counter("rewardlab_item_errors", "Items that failed, by kind (input, model).", ["kind"],
                                   registry=r)

    def observe_batch(self, n_items: int, n_tokens: int, seconds: float, error_kinds: list[Any],
                      n_requests: int = 1) -> None:
        """Record one model batch."""
        self.batch_items.observe(n_items)
        self.batch_requests.observe(n_requests)
        self.batch_tokens.observe(n_tokens)
        self.model_seconds.observe(seconds)
        self.tokens.inc(n_tokens)
        self.items.inc(n_items)
        if seconds > 0:
            self.tokens_per_second.set(n_tokens / seconds)
        for kind in error_kinds:
            self.item_errors.labels(kind=str(kind)).inc()

    def render(self) -> bytes:
        """The text exposition format of every metric."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


__all__ = ["ServerMetrics"]
