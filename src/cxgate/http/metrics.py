"""`/metrics`: Prometheus text exposition (the Reporting service), and the middleware that counts
requests.

Each app has its own `CollectorRegistry` rather than prometheus-client's global one, so that
several apps in one process (tests, embedding) never share or collide on series. Requests are
labelled by route *template* (`/genesys/1/service/{id}`), never by raw path: raw paths carry ids
and would grow the series without bound. With several uvicorn workers each process counts its
own requests, and a scrape sees the worker that answered it (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from cxgate.cometd import CometdServer
from cxgate.status.registry import Registry, ServiceState

UNMATCHED = "(unmatched)"
# The text format every Prometheus version reads (what prometheus-client itself serves when a
# scraper does not negotiate); written out because older clients lack the constant.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Any other method is labelled OTHER, so that junk methods cannot grow the series either.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
# Prometheus' defaults, plus the long tail of CometD connects (held up to `timeout_ms`, 30 s).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "cxgate_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cxgate_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.store_latency = Histogram(
            "cxgate_store_ping_duration_seconds",
            "Round trip of the store's ping, measured by the Provisioning probe",
            registry=self.registry,
        )

        # labels() takes a lock and builds a key on every call: the children are kept here.
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """Count and time one answered HTTP request."""
        route = route_template(scope)
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        counted = self._counted.get((method, route, status))
        if counted is None:
            counted = self.requests.labels(method, route, str(status))
            self._counted[(method, route, status)] = counted
        counted.inc()
        timed = self._timed.get((method, route))
        if timed is None:
            timed = self._timed[(method, route)] = self.latency.labels(method, route)
        timed.observe(seconds)

    def watch(self, *, services: Registry, cometd: CometdServer) -> None:
        """Expose the service states and CometD sessions, read at scrape time."""
        self.registry.register(_StateCollector(services, cometd))

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
