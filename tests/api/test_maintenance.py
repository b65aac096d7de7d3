"""Maintenance mode: `/genesys/1/admin/maintenance`, read-only APIs, shared through the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.conftest import Node, open_node
from tests.backends import drop_url, fresh_url
from tests.conftest import BACKEND_PARAMS

MAINTENANCE = "/genesys/1/admin/maintenance"
CS_EXCEPTION = (
    "com.genesyslab.gsg.services.contextservices.exceptions.ContextServicesExceptionResource"
)
# The probes are driven by the tests; no timer round may interfere.
CONFIG = "[status]\ninterval = 3600\ntimeout = 1\n"


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with open_node(f"sqlite:///{tmp_path}/cxgate.db", config_text=CONFIG) as opened:
        yield opened


async def switch(node: Node, read_only: bool) -> None:
    response = await node.client.post(MAINTENANCE, json={"read_only": read_only})
    assert response.status_code == 200, response.text
    assert response.json() == {"read_only": read_only}


async def test_maintenance_is_off_by_default(node: Node) -> None:
    response = await node.client.get(MAINTENANCE)
    assert response.status_code == 200
    assert response.json() == {"read_only": False}


async def test_switching_on_makes_provisioning_read_only(node: Node) -> None:
    await switch(node, True)
    assert (await node.client.get(MAINTENANCE)).json() == {"read_only": True}
    assert node.state("Provisioning") == "ReadOnly"
    await switch(node, False)
    assert (await node.client.get(MAINTENANCE)).json() == {"read_only": False}
    assert node.state("Provisioning") == "Active"


async def test_writes_are_refused_and_reads_work_in_maintenance(node: Node) -> None:
    created = await node.client.post("/genesys/1/storage/60", data={"colour": "blue"})
    assert created.status_code == 200
    area = created.json()["id"]
    await switch(node, True)

    read = await node.client.get(f"/genesys/1/storage/{area}")
    assert read.status_code == 200
    assert read.json() == {"colour": "blue"}

    for method, path in [
        ("POST", "/genesys/1/storage/60"),
        ("PUT", f"/genesys/1/storage/{area}/60"),
        ("DELETE", f"/genesys/1/storage/{area}"),
        ("POST", "/genesys/1/service/request-access"),
    ]:
        response = await node.client.request(method, path, data={"colour": "red"})
        assert response.status_code == 503, (method, path)
        body = response.json()
        assert "read-only (maintenance mode)" in body["message"]
        assert body["exception"] == "com.genesyslab.gms.exceptions.ServiceUnavailableException"

    cs = await node.client.post("/genesys/1/cs/services", json={})
    assert cs.status_code == 503
    assert cs.json()["exception"] == CS_EXCEPTION
    assert "read-only" in cs.json()["message"]

    await switch(node, False)
    assert (await node.client.get(f"/genesys/1/storage/{area}")).json() == {"colour": "blue"}
    assert (await node.client.delete(f"/genesys/1/storage/{area}")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b"{}", b'{"read_only": "yes"}', b'{"read_only": 1}', b'"true"'],
)
async def test_bad_bodies_are_400(node: Node, body: bytes) -> None:
    response = await node.client.post(
        MAINTENANCE, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "read_only" in response.json()["message"]
    assert (await node.client.get(MAINTENANCE)).json() == {"read_only": False}


@pytest.fixture(params=BACKEND_PARAMS)
async def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh store of each backend, for two nodes to share."""
    url, extra = await fresh_url(request.param, tmp_path)
    try:
        yield url
    finally:
        await drop_url(request.param, extra)


async def test_maintenance_is_shared_by_every_node_of_a_store(shared_store: str) -> None:
    # Separate buses: here the store alone carries the switch, found by B's next probe.
    async with (
        open_node(shared_store, config_text=CONFIG) as a,
        open_node(shared_store, config_text=CONFIG) as b,
    ):
        await switch(a, True)
        assert (await b.client.get(MAINTENANCE)).json() == {"read_only": True}
        await b.monitor.refresh()
        assert b.state("Provisioning") == "ReadOnly"
        refused = await b.client.post("/genesys/1/storage/60", data={"k": "v"})
        assert refused.status_code == 503

        await switch(b, False)
        await a.monitor.refresh()
        assert a.state("Provisioning") == "Active"
        assert (await a.client.post("/genesys/1/storage/60", data={"k": "v"})).status_code == 200


async def test_a_node_starting_during_maintenance_is_read_only_at_once(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/cxgate.db"
    async with open_node(store, config_text=CONFIG) as a:
        await switch(a, True)
    async with open_node(store, config_text=CONFIG) as b:
        assert b.state("Provisioning") == "ReadOnly"
        assert (await b.client.post("/genesys/1/storage/60", data={"k": "v"})).status_code == 503
