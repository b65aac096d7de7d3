"""`/metrics`: Prometheus text exposition (the Reporting service), and the middleware that counts
requests.

Each app has its own `CollectorRegistry` rather than prometheus-client's global one, so that
several apps in one process (tests, embedding) never share or collide on series. Requests are
labelled by route *template* (`/genesys/1/service/{id}`), never by raw path: raw paths carry ids
and would grow the series without bound. With several uvicorn workers each process counts its
own requests, and a scrape sees the worker that answered it (docs/operations.md).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable
from itertools import accumulate

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from cxgate.cometd import CometdServer
from cxgate.http.routing import Route
from cxgate.status.registry import Registry, ServiceState

UNMATCHED = "(unmatched)"
# The text format every Prometheus version reads (what prometheus-client itself serves when a
# scraper does not negotiate); written out because older clients lack the constant.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Any other method is labelled OTHER, so that junk methods cannot grow the series either.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
# Prometheus' defaults, plus the long tail of CometD connects (held up to `timeout_ms`, 30 s).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BUCKET_COUNT = len(_LATENCY_BUCKETS) + 1  # and +Inf
# `le` as prometheus-client writes these bounds: 0.005, 1.0, 60.0.
_BUCKET_LABELS = [*(repr(float(bound)) for bound in _LATENCY_BUCKETS), "+Inf"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = _RequestCollector()
        self.registry.register(self.requests)
        self.store_latency = Histogram(
            "cxgate_store_ping_duration_seconds",
            "Round trip of the store's ping, measured by the Provisioning probe",
            registry=self.registry,
        )

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """Count and time one answered HTTP request."""
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        self.requests.observe(method, route_template(scope), status, seconds)

    def watch(self, *, services: Registry, cometd: CometdServer) -> None:
        """Expose the service states and CometD sessions, read at scrape time."""
        self.registry.register(_StateCollector(services, cometd))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _RequestCollector(Collector):
    """`cxgate_http_requests_total` (a counter) and `cxgate_http_request_duration_seconds` (a
    histogram), by method and route template, exposed exactly as prometheus-client's `Counter`
    and `Histogram` would expose them (`_created` series included).

    Kept as plain numbers, not as prometheus-client metrics: their children take a lock and
    check their arguments on every increment, which cost 2 µs on every request, a tenth of
    what the whole HTTP layer spends on a GET. Only the event loop's thread writes them."""

    def __init__(self) -> None:
        # (method, route, status) -> [count, created]
        self.counts: dict[tuple[str, str, int], list[float]] = {}
        # (method, route) -> [created, sum, count per bucket (the last: +Inf)...]
        self.timings: dict[tuple[str, str], list[float]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        count = self.counts.get((method, route, status))
        if count is None:
            count = self.counts[(method, route, status)] = [0.0, time.time()]
        count[0] += 1
        timing = self.timings.get((method, route))
        if timing is None:
            timing = self.timings[(method, route)] = [time.time(), 0.0] + [0.0] * _BUCKET_COUNT
        timing[1] += seconds
        timing[2 + bisect_left(_LATENCY_BUCKETS, seconds)] += 1  # `le`: the first bound >= it

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "cxgate_http_requests",
            "HTTP requests answered, by route template and status",
            labels=["method", "route", "status"],
        )
        for (method, route, status), (count, created) in list(self.counts.items()):
            requests.add_metric([method, route, str(status)], count, created=created)
        yield requests
        name = "cxgate_http_request_duration_seconds"
        latency = HistogramMetricFamily(
            name, "Time to answer an HTTP request, by route template", labels=["method", "route"]
        )
        for (method, route), (created, total, *buckets) in list(self.timings.items()):
            latency.add_metric(
                [method, route], list(zip(_BUCKET_LABELS, accumulate(buckets), strict=True)), total
            )
            latency.add_sample(name + "_created", {"method": method, "route": route}, created)
        yield latency


class _StateCollector(Collector):
    def __init__(self, services: Registry, cometd: CometdServer) -> None:
        self.services = services
        self.cometd = cometd

    def collect(self) -> Iterable[Metric]:
        sessions = GaugeMetricFamily("cxgate_cometd_sessions", "Live CometD client sessions")
        sessions.add_metric([], self.cometd.session_count)
        yield sessions
        # One series per possible state, 1 for the current one: the usual Prometheus encoding
        # of an enum, so `cxgate_service_state{state="Inactive"} == 1` is an alert rule.
        states = GaugeMetricFamily(
            "cxgate_service_state",
            "Service states as the services resource reports them (1: the current state)",
            labels=["id", "name", "type", "state"],
        )
        for service in self.services:
            for state in ServiceState:
                value = 1.0 if service.state is state else 0.0
                states.add_metric(
                    [service.id, service.name, service.type.value, state.value], value
                )
        yield states


def route_template(scope: Scope) -> str:
    """The path template of the route that served (or would serve) this request."""
    route = scope.get("route")
    if route is None:
        # Answered before routing (the store guard): find the route it was meant for.
        for candidate in scope["app"].router.routes:
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                route = candidate
                break
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE)


routes = [Route("/metrics", metrics_endpoint, methods=["GET"], name="metrics")]
