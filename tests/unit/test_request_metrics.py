"""The request series (cxgate.http.metrics) read exactly as prometheus-client's own `Counter`
and `Histogram` would write them, `_created` series included."""

from __future__ import annotations

import re
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.routing import Route

from cxgate.http.metrics import _LATENCY_BUCKETS, Metrics

_CREATED = re.compile(rb"^(\S+_created\{.*\}) \S+$", re.MULTILINE)
OBSERVED = [
    ("GET", "/genesys/1/service/{id}/storage/{key:path}", 200, 0.0004),
    ("GET", "/genesys/1/service/{id}/storage/{key:path}", 200, 0.005),  # on a bound: `le`
    ("GET", "/genesys/1/service/{id}/storage/{key:path}", 404, 0.02),
    ("POST", "/genesys/1/storage/{ttl}", 200, 0.7),
    ("POST", "/genesys/1/storage/{ttl}", 503, 61.0),  # past the last bound: +Inf only
    ("BREW", "(unmatched)", 405, 0.001),
]


def requests_only(exposition: bytes) -> bytes:
    """The request families, with the creation times (which differ by nature) blanked."""
    kept = b"".join(
        line + b"\n" for line in exposition.splitlines() if b"cxgate_http_request" in line
    )
    return _CREATED.sub(rb"\1 <created>", kept)


async def endpoint() -> None: ...


def test_the_exposition_is_prometheus_clients() -> None:
    metrics = Metrics()
    reference = CollectorRegistry()
    counter = Counter(
        "cxgate_http_requests",
        "HTTP requests answered, by route template and status",
        ["method", "route", "status"],
        registry=reference,
    )
    histogram = Histogram(
        "cxgate_http_request_duration_seconds",
        "Time to answer an HTTP request, by route template",
        ["method", "route"],
        buckets=_LATENCY_BUCKETS,
        registry=reference,
    )
    # Before any request: the families are there, empty.
    assert requests_only(metrics.render()) == requests_only(generate_latest(reference))
    for method, template, status, seconds in OBSERVED:
        # A route without a path template (a stand-in here) is counted as unmatched.
        route = Route(template, endpoint) if template.startswith("/") else SimpleNamespace()
        metrics.observe({"method": method, "route": route}, status, seconds)
        label = method if method != "BREW" else "OTHER"
        counter.labels(label, template, str(status)).inc()
        histogram.labels(label, template).observe(seconds)
    ours, theirs = requests_only(metrics.render()), requests_only(generate_latest(reference))
    assert b'le="0.005"' in ours
    assert b"<created>" in ours
    assert ours == theirs
