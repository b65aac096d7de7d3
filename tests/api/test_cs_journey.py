"""A whole customer journey replayed through the API, tenancy, and races through HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.conftest import Api

CS = "/genesys/1/cs"


class Client:
    """One application (IVR, desktop, ...) in one space."""

    def __init__(self, api: Api, **headers: str) -> None:
        self.api = api
        self.headers = headers

    async def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = await self.api.client.request(method, CS + path, json=body, headers=self.headers)
        assert response.status_code == status, (path, response.text)
        return response.json() if response.content else None

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.api.client.get(CS + path, params=params, headers=self.headers)
        assert response.status_code == 200, (path, response.text)
        return response.json()


async def test_replay_of_a_whole_journey(cs_api: Api) -> None:
    ivr = Client(cs_api)
    # 1. An unidentified caller: the IVR starts an anonymous service keyed on the ANI.
    sid = (
        await ivr.call(
            "POST",
            "/services/start",
            {"contact_key": "4088327799", "service_type": "wireless", "session_id": "ivr-1"},
            201,
        )
    )["service_id"]
    base = f"/services/{sid}"
    menu = (await ivr.call("POST", f"{base}/states/start", {"state_type": "menu"}, 201))["state_id"]
    pin = (
        await ivr.call("POST", f"{base}/tasks/start", {"task_type": "pin", "state_id": menu}, 201)
    )["task_id"]
    await cs_api.advance(20)
    await ivr.call("POST", f"{base}/tasks/{pin}/end", {"disposition": "failed"}, 204)
    queue = (
        await ivr.call(
            "POST",
            f"{base}/states/transition",
            {
                "from": {"state_id": menu, "disposition": "new account"},
                "to": {"state_type": "queue"},
            },
            201,
        )
    )["state_id"]
    # 2. The call drops; the customer calls back from the same number.
    await cs_api.advance(600)
    found = await ivr.get("/services/anonymous/4088327799/active", active_states="true")
    assert [s["service_id"] for s in found] == [sid]
    assert [s["state_id"] for s in found[0]["active_states"]] == [queue]
    # 3. An agent identifies the customer and takes over.
    desktop = Client(cs_api)
    await desktop.call("POST", f"/customers/cust-42/services/{sid}", {"agent": "jo"})
    talk = (
        await desktop.call(
            "POST",
            f"{base}/states/transition",
            {"from": {"state_id": queue}, "to": {"state_type": "agent"}, "media_type": "voice"},
            201,
        )
    )["state_id"]
    form = (
        await desktop.call(
            "POST", f"{base}/tasks/start", {"task_type": "open", "state_id": talk}, 201
        )
    )["task_id"]
    await desktop.call("PUT", f"{base}/tasks/{form}/extensions/Account", {"plan": "gold"})
    await cs_api.advance(300)
    await desktop.call(
        "POST", f"{base}/end", {"disposition": "sold", "disposition_desc": "gold"}, 204
    )
    # 4. Read it back from both sides: the customer has it, the contact key no longer.
    assert await ivr.get("/services/anonymous/4088327799") == []
    history = await desktop.get(
        "/customers/cust-42/services/completed",
        completed_states="true",
        completed_tasks="true",
        extensions="agent,Task.Account",
    )
    assert len(history) == 1
    journey = history[0]
    assert journey["customer_id"] == "cust-42"
    assert journey["contact_key"] == "4088327799"
    assert journey["disposition"] == "sold"
    assert journey["agent"] == "jo"
    assert journey["started"]["timestamp"] == "2027-01-15T08:00:00.000Z"
    assert journey["completed"]["timestamp"] == "2027-01-15T08:15:20.000Z"
    assert [(s["state_type"], s.get("previous_state_id")) for s in journey["completed_states"]] == [
        ("menu", None),
        ("queue", menu),
        ("agent", queue),
    ]
    tasks = {t["task_type"]: t for t in journey["completed_tasks"]}
    assert tasks["pin"]["disposition"] == "failed"
    assert tasks["pin"]["state_id"] == menu
    assert tasks["open"]["Account"] == {"plan": "gold"}
    assert tasks["open"]["completed"] == {"timestamp": "2027-01-15T08:15:20.000Z"}
    assert await desktop.get("/customers/cust-42/services/active") == []


async def test_tenants_and_groups_are_isolated(cs_api: Api) -> None:
    acme = Client(cs_api, ContactCenterId="acme")
    acme_sales = Client(cs_api, ContactCenterId="acme", GroupId="sales")
    globex = Client(cs_api, ContactCenterId="globex")
    default = Client(cs_api)
    spaces = (acme, acme_sales, globex, default)
    ids = {}
    for client in spaces:
        ids[client] = (
            await client.call(
                "POST", "/services/start", {"customer_id": "same", "contact_key": "k"}, 201
            )
        )["service_id"]
    for client in spaces:
        mine = ids[client]
        assert [s["service_id"] for s in await client.get("/customers/same/services")] == [mine]
        for other in spaces:
            if other is client:
                continue
            theirs = ids[other]
            for method, path, body in (
                ("GET", f"/services/{theirs}", None),
                ("POST", f"/services/{theirs}/end", {}),
                ("POST", f"/services/{theirs}/states/start", {}),
                ("PUT", f"/services/{theirs}", {"ttl": 1}),
                ("PUT", f"/services/{theirs}/extensions/x", 1),
                ("POST", f"/customers/thief/services/{theirs}", {}),
                ("DELETE", f"/services/{theirs}", None),
            ):
                await client.call(method, path, body, 404)
    # A purge and an export in one space leave the others whole.
    purged = await acme.call(
        "POST",
        "/maintenance/purge",
        {"limit": "2100-01-01T00:00:00Z", "operation": "purge.service.all"},
    )
    assert purged == {"purged": 1}
    stream = await globex.get("/maintenance/services/stream")
    assert [s["service_id"] for s in stream] == [ids[globex]]
    for client in (acme_sales, globex, default):
        shown = await client.get(f"/services/{ids[client]}", extensions="*")
        assert "completed" not in shown
        assert "x" not in shown
        assert shown["customer_id"] == "same"


async def test_racing_composite_starts_over_http(cs_api: Api) -> None:
    body = {
        "services": [
            {
                "service": {"customer_id": "ann", "service_type": 1},
                "state": {"state_type": "ivr"},
                "task": {"task_type": "auth"},
                "associate_state_task": True,
            }
        ]
    }
    responses = await asyncio.gather(
        *(cs_api.client.post(f"{CS}/services_composite/start", json=body) for _ in range(8))
    )
    answers = [r.json()[0] for r in responses]
    assert all(r.status_code == 200 for r in responses)
    assert len({a["service_id"] for a in answers}) == 1
    assert sum(a["service_created"] for a in answers) == 1
    assert sum(a["state_created"] for a in answers) == sum(a["task_created"] for a in answers) == 1
    assert len((await cs_api.client.get(f"{CS}/customers/ann/services")).json()) == 1


async def test_composite_start_reuses_and_creates_per_entry(cs_api: Api) -> None:
    entry = {"service": {"contact_key": "555", "service_type": 7}, "state": {"state_type": 1}}
    first = (
        await cs_api.client.post(f"{CS}/services_composite/start", json={"services": [entry]})
    ).json()
    assert first == [
        {
            "service_id": first[0]["service_id"],
            "service_created": True,
            "state_id": 1,
            "state_created": True,
        }
    ]
    both = [entry, {**entry, "task": {"task_type": 2}, "state": {"state_type": 3}}]
    second = (
        await cs_api.client.post(f"{CS}/services_composite/start", json={"services": both})
    ).json()
    assert [a["service_id"] for a in second] == [first[0]["service_id"]] * 2
    assert [a["service_created"] for a in second] == [False, False]
    assert (second[0]["state_id"], second[0]["state_created"]) == (1, False)
    assert second[1]["state_created"]
    assert second[1]["task_created"]
    sid = first[0]["service_id"]
    await cs_api.client.post(f"{CS}/services/{sid}/end", json={})
    third = (
        await cs_api.client.post(f"{CS}/services_composite/start", json={"services": [entry]})
    ).json()
    assert third[0]["service_created"]
    assert third[0]["service_id"] != sid
    task = (await cs_api.client.get(f"{CS}/services/{sid}/tasks/{second[1]['task_id']}")).json()
    assert "state_id" not in task  # not associated: the entry did not ask for it


async def test_the_sizing_journey_ends_keep_data_and_move_the_expiry(cs_api: Api) -> None:
    """The benchmark's journey (bench/journey.py): ends without attached data keep what the
    starts attached, and an end with a ttl moves the service's expiry like any write."""
    ivr = Client(cs_api, ContactCenterId="cc-1")
    start = {"customer_id": "c1", "service_type": "billing", "ttl": 60, "lang": "en-US"}
    sid = (await ivr.call("POST", "/services/start", start, 201))["service_id"]
    base = f"/services/{sid}"
    state = (
        await ivr.call("POST", f"{base}/states/start", {"state_type": "menu", "level": 1}, 201)
    )["state_id"]
    task = (
        await ivr.call(
            "POST", f"{base}/tasks/start", {"task_type": "lookup", "state_id": state}, 201
        )
    )["task_id"]
    await ivr.call("POST", f"{base}/tasks/{task}/end", {"disposition": "done"}, 204)
    await ivr.call("POST", f"{base}/states/{state}/end", {"ttl": 3600}, 204)
    await cs_api.advance(120)  # past the start's ttl, within the state end's
    await ivr.call("POST", f"{base}/end", {"disposition": "resolved", "satisfaction": 5}, 204)
    [shown] = await ivr.get(
        "/customers/c1/services",
        completed_states="true",
        completed_tasks="true",
        extensions="*",
    )
    assert shown["lang"] == "en-US"
    assert shown["satisfaction"] == 5
    assert shown["disposition"] == "resolved"
    [ended_state] = shown["completed_states"]
    assert (ended_state["state_id"], ended_state["level"]) == (state, 1)
    [ended_task] = shown["completed_tasks"]
    assert ended_task["disposition"] == "done"
    assert ended_task["completed"] == {
        "timestamp": "2027-01-15T08:00:00.000Z",
        "disposition": "done",
    }
    await cs_api.advance(3600)
    await ivr.call("GET", base, status=404)
