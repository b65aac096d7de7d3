"""Store outage: Provisioning goes Inactive, the APIs that need the store answer 503, and all of it
heals when the store is back."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.api.conftest import BayeuxClient, open_node

CONFIG = "[status]\ninterval = 3600\ntimeout = 1\n\n[cometd]\ntimeout_ms = 2000\n"
GMS_UNAVAILABLE = "com.genesyslab.gms.exceptions.ServiceUnavailableException"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_store_that_goes_away_and_comes_back(tmp_path: Path) -> None:
    async with open_node(f"sqlite:///{tmp_path}/cxgate.db", config_text=CONFIG) as node:
        client = BayeuxClient(node.client)
        await client.join("/notifications/services")
        created = await node.client.post("/genesys/1/storage/60", data={"k": "v"})
        area = created.json()["id"]

        await node.app.state.store.close()  # the store stops answering
        await node.monitor.refresh()
        assert node.state("Provisioning") == "Inactive"
        [change] = await client.receive("/notifications/services")
        assert change["service"]["name"] == "Provisioning"
        assert change["service"]["state"] == "Inactive"

        for method, path in [
            ("GET", f"/genesys/1/storage/{area}"),
            ("POST", "/genesys/1/storage/60"),
            ("POST", "/genesys/1/service/request-access"),
        ]:
            response = await node.client.request(method, path)
            assert response.status_code == 503, (method, path)
            assert response.json()["exception"] == GMS_UNAVAILABLE
            assert "data store is not available" in response.json()["message"]
        assert (await node.client.get("/genesys/1/cs/services")).status_code == 503
        assert (await node.client.get("/genesys/1/node")).status_code == 503
        # The status resource itself still answers: it is how clients learn about the outage.
        assert (await node.client.get("/api/v2/services")).status_code == 200

        await node.app.state.store.open()  # back
        await node.monitor.refresh()
        assert node.state("Provisioning") == "Active"
        assert (await client.receive("/notifications/services"))[0]["service"]["state"] == "Active"
        assert (await node.client.get(f"/genesys/1/storage/{area}")).json() == {"k": "v"}
        assert (await node.client.get("/genesys/1/node")).status_code == 200


async def test_a_store_unreachable_at_startup(tmp_path: Path) -> None:
    store = f"postgresql://postgres@127.0.0.1:{_closed_port()}/test?timeout=1"
    async with open_node(store, config_text=CONFIG) as node:
        assert node.state("Provisioning") == "Inactive"
        refused = await node.client.post("/genesys/1/storage/60", data={"k": "v"})
        assert refused.status_code == 503
        assert "data store is not available" in refused.json()["message"]
        assert (await node.client.get("/genesys/1/node")).status_code == 503
        maintenance = await node.client.get("/genesys/1/admin/maintenance")
        assert maintenance.status_code == 503  # the switch lives in the store
