"""`/metrics`: Prometheus text exposition with per-route request series and the status gauges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cxgate.status.registry import ServiceType, service_id
from tests.api.conftest import BayeuxClient, Node, open_node

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with open_node(f"sqlite:///{tmp_path}/cxgate.db") as opened:
        yield opened


async def scrape(node: Node) -> Samples:
    response = await node.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, metric: str, **labels: str) -> float:
    return samples[(metric, frozenset(labels.items()))]


async def test_requests_are_counted_per_route_template(node: Node) -> None:
    provisioning = service_id(ServiceType.PROVISIONING, "Provisioning")
    await node.client.get(f"/api/v2/services/{provisioning}")
    await node.client.get(f"/api/v2/services/{service_id(ServiceType.MEDIA, 'Media')}")
    await node.client.get("/api/v2/services/nope")
    await node.client.get("/no/such/path/42")
    samples = await scrape(node)
    template = "/api/v2/services/{id}"
    total = "cxgate_http_requests_total"
    assert value(samples, total, method="GET", route=template, status="200") == 2
    assert value(samples, total, method="GET", route=template, status="404") == 1
    assert value(samples, total, method="GET", route="(unmatched)", status="404") == 1
    assert not any("nope" in str(key) or "42" in str(key) for key in samples)  # no raw paths
    duration = "cxgate_http_request_duration_seconds_count"
    assert value(samples, duration, method="GET", route=template) == 3


async def test_refused_requests_are_counted_under_their_route(node: Node) -> None:
    await node.client.post("/genesys/1/admin/maintenance", json={"read_only": True})
    await node.client.post("/genesys/1/storage/60", data={"k": "v"})
    samples = await scrape(node)
    assert (
        value(
            samples,
            "cxgate_http_requests_total",
            method="POST",
            route="/genesys/1/storage/{ttl}",
            status="503",
        )
        == 1
    )


async def test_status_store_latency_and_cometd_sessions(node: Node) -> None:
    await BayeuxClient(node.client).join("/notifications/services")
    await node.monitor.refresh()
    samples = await scrape(node)
    assert value(samples, "cxgate_cometd_sessions") == 1
    assert value(samples, "cxgate_store_ping_duration_seconds_count") >= 2
    provisioning = {
        "id": service_id(ServiceType.PROVISIONING, "Provisioning"),
        "name": "Provisioning",
        "type": "Provisioning",
    }
    assert value(samples, "cxgate_service_state", **provisioning, state="Active") == 1
    assert value(samples, "cxgate_service_state", **provisioning, state="Inactive") == 0
    assert value(samples, "cxgate_service_state", **provisioning, state="ReadOnly") == 0
    assert ("process_resident_memory_bytes", frozenset()) in samples


async def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    async with (
        open_node(f"sqlite:///{tmp_path}/a.db") as a,
        open_node(f"sqlite:///{tmp_path}/b.db") as b,
    ):
        await a.client.get("/api/v2/services")
        await a.client.get("/api/v2/services")
        await b.client.get("/api/v2/services")
        key = (
            "cxgate_http_requests_total",
            frozenset({"method": "GET", "route": "/api/v2/services", "status": "200"}.items()),
        )
        assert (await scrape(a))[key] == 2
        assert (await scrape(b))[key] == 1
