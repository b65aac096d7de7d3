"""The console's four pages in headless Chromium against a real server (see conftest.py)."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import ADMIN, UNREACHABLE, Driver
from tests.e2e.processes import DEMO_CONFIG, Served, serve

pytestmark = pytest.mark.slow

CS = "/genesys/1/cs"


def _client(served: Served) -> httpx.Client:
    return httpx.Client(base_url=served.base_url, auth=ADMIN, timeout=10)


def test_board_follows_a_maintenance_switch_made_through_the_api(
    driver: Driver, server: Served
) -> None:
    seen = driver.run("board", server)

    states = {s["name"]: s["state"] for s in seen["services"]}
    assert {"Provisioning", "Reporting", "Media"} <= states.keys()
    assert states["Provisioning"] == "Active"
    assert states["SIPS1"] == "Inactive"
    # With [users] the browser cannot authenticate a websocket upgrade: long-polling it is.
    assert "long-polling" in seen["transport"]
    assert seen["reactionMs"] < 1000, seen["reactionMs"]
    assert "ReadOnly" in seen["banner"]
    assert any("Provisioning" in line and "ReadOnly" in line for line in seen["changes"])
    assert seen["tester"]["disabled"] is True
    assert "maintenance" in seen["tester"]["title"]
    assert seen["tester"]["note"].startswith("Writes are disabled.")
    assert seen["agentToggle"]["disabled"] is True
    assert "admin" in seen["agentToggle"]["note"]
    assert seen["maintenanceAfter"] is False  # ended from the page by the admin


def test_tester_creates_a_service_with_a_file_and_downloads_it_back(
    driver: Driver, server: Served
) -> None:
    content = os.urandom(48 * 1024) + bytes(range(256))
    name = "scan-ü.bin"
    seen = driver.run(
        "tester",
        server,
        {
            "service": "store",
            "file_base64": base64.b64encode(content).decode(),
            "file_name": name,
            "file_type": "application/octet-stream",
        },
    )

    assert Path(seen["download"]["path"]).read_bytes() == content
    assert seen["download"]["sha256"] == seen["sent"]["sha256"]
    assert seen["download"]["name"] == name
    assert seen["textKeys"] == ["first_name"]
    with _client(server) as client:
        stored = client.get(f"/genesys/1/service/{seen['id']}/storage/binary/scan")
        assert stored.status_code == 200
        assert stored.content == content
        assert client.get(f"/genesys/1/service/{seen['id']}/storage").json() == {
            "first_name": "Ann"
        }


def _at(minutes_ago: float) -> str:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _seed_journey(client: httpx.Client, customer: str, contact_key: str) -> None:
    def post(path: str, body: dict[str, object], status: int) -> dict[str, object]:
        response = client.post(CS + path, json=body)
        assert response.status_code == status, (path, response.text)
        return response.json() if response.content else {}

    billing = post(
        "/services/start",
        {
            "customer_id": customer,
            "service_type": "Billing",
            "timestamp": _at(30),
            "channel": "web",
        },
        201,
    )["service_id"]
    post(
        f"/services/{billing}/states/start",
        {"state_type": "Identify", "timestamp": _at(29), "score": 3},
        201,
    )
    post(
        f"/services/{billing}/tasks/start",
        {"task_type": "Verify", "state_id": 1, "timestamp": _at(28), "agent": "Eve"},
        201,
    )
    tasks = client.get(f"{CS}/services/{billing}/tasks").json()
    post(
        f"/services/{billing}/tasks/{tasks[0]['task_id']}/end",
        {"disposition": "verified", "timestamp": _at(24)},
        204,
    )
    post(
        f"/services/{billing}/states/transition",
        {
            "from": {"state_id": 1, "disposition": "identified"},
            "to": {"state_type": "Resolve"},
            "timestamp": _at(20),
        },
        201,
    )
    post(
        f"/services/{billing}/end",
        {"disposition": "paid", "disposition_desc": "card payment", "timestamp": _at(12)},
        204,
    )
    support = post(
        "/services/start",
        {"customer_id": customer, "service_type": "Support", "timestamp": _at(9)},
        201,
    )["service_id"]
    post(f"/services/{support}/states/start", {"state_type": "Triage", "timestamp": _at(8)}, 201)
    post(f"/services/{support}/tasks/start", {"task_type": "Callback", "timestamp": _at(6)}, 201)
    post("/services/start", {"contact_key": contact_key, "service_type": "Browse"}, 201)


def test_journey_viewer_draws_a_seeded_customer(driver: Driver, server: Served) -> None:
    customer, contact_key = "cust-4242", "visitor-77"
    with _client(server) as client:
        _seed_journey(client, customer, contact_key)

    seen = driver.run("journey", server, {"customer": customer, "contact_key": contact_key})

    kinds = [bar["kind"] for bar in seen["bars"]]
    assert kinds.count("service") == 2
    assert kinds.count("state") == 3  # Identify, Resolve (by transition), Triage
    assert kinds.count("task") == 2
    labels = " ".join(bar["label"] for bar in seen["bars"])
    for word in ("Billing", "paid", "Support"):
        assert word in labels
    active = {bar["label"].split(" (")[0] for bar in seen["bars"] if bar["active"]}
    # Ending Billing ended Resolve too; Support is still going.
    assert active == {"Service Support", "State Triage", "Task Callback"}
    # The first state bar is Identify: its details show its disposition and attached data.
    assert "identified" in seen["details"]
    assert "score" in seen["details"]
    assert seen["anonymous"] == 1


def test_config_view_lists_services_and_highlights_problems(driver: Driver, server: Served) -> None:
    seen = driver.run("config", server)

    names = [s["name"] for s in seen["services"]]
    assert names == [
        "store",
        "request-interaction",
        "request-access",
        "match-interaction",
        "crm",
        "notes",
    ]
    flagged = {s["name"]: s["flagged"] for s in seen["services"]}
    assert "error" in flagged["crm"]
    assert "warning" in flagged["notes"]
    assert flagged["store"] == ""
    assert seen["pools"] == ["DNIS"]
    assert any(UNREACHABLE in p and "unreachable" in p for p in seen["problems"])


def test_without_users_the_console_needs_no_login_and_goes_live_over_websocket(
    driver: Driver, tmp_path: Path
) -> None:
    with serve(tmp_path, "--config", DEMO_CONFIG) as served:
        seen = driver.run("open", served)
    assert seen["login"] == 0
    assert "websocket" in seen["transport"]
    assert seen["who"] == "auth off"
