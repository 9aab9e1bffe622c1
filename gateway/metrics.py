"""Prometheus metrics of one gateway process (``GET /metrics``)."""
from __future__ import annotations

from typing import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("tvtopup_http_requests_total", "HTTP requests by route and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("tvtopup_http_request_duration_seconds", "HTTP request latency by route",
                                 ["route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self._gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self._refreshers: list[Callable[[], Awaitable[None]]] = []
        self.registry.register(_Gauges(self._gauges))

    def gauge(self, name: str, doc: str, read: Callable[[], float]) -> None:
        """A value read when scraped (outbox backlog, dispatcher counters)."""
        self._gauges[name] = (doc, read)

    def refresher(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """An async step run before each scrape (reads from the database)."""
        self._refreshers.append(refresh)

    async def refresh(self) -> None:
        for refresh in self._refreshers:
            await refresh()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Gauges:
    def __init__(self, gauges: dict[str, tuple[str, Callable[[], float]]]):
        self._gauges = gauges

    def collect(self):
        for name, (doc, read) in list(self._gauges.items()):
            yield GaugeMetricFamily(name, doc, value=float(read()))
