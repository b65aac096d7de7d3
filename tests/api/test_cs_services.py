"""SPEC section 5, services: start, end, read, delete, TTL, association, extensions, queries."""

from __future__ import annotations

import re
from typing import Any

from tests.api.conftest import Api

CS = "/genesys/1/cs"
ID = re.compile(r"[0-9]+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def start(api: Api, **body: Any) -> str:
    response = await api.client.post(f"{CS}/services/start", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["service_id"])


async def get(api: Api, sid: str, **params: Any) -> dict[str, Any]:
    response = await api.client.get(f"{CS}/services/{sid}", params=params)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def listed(api: Api, path: str, params: Any = None) -> list[str]:
    response = await api.client.get(CS + path, params=params)
    assert response.status_code == 200, response.text
    return [s["service_id"] for s in response.json()]


async def test_start_answers_201_with_id_and_location(cs_api: Api) -> None:
    response = await cs_api.client.post(f"{CS}/services/start", json={"customer_id": "c1"})
    assert response.status_code == 201
    sid = response.json()["service_id"]
    assert ID.fullmatch(sid)
    assert response.headers["location"] == f"{CS}/services/{sid}"
    assert (await cs_api.client.get(response.headers["location"])).status_code == 200


async def test_resource_shows_every_field_as_sent(cs_api: Api) -> None:
    body = {
        "customer_id": "c1",
        "contact_key": "408-832-7799",
        "service_type": 10,
        "est_duration": 600,
        "auto_complete_after": "2h",
        "session_id": "s" * 32,
        "interaction_id": "i" * 50,
        "application_type": "IVR",
        "application_id": "42",
        "resource_type": 3.5,
        "resource_id": 7,
        "media_type": "voice",
        "timestamp": "2026-3-7T4:5:6.6Z",
        "Satisfaction": {"rating": 2, "tags": ["fast", None]},
        "score": 1.25,
    }
    sid = await start(cs_api, **body)
    shown = await get(cs_api, sid, extensions="*")
    assert shown == {
        "service_id": sid,
        "customer_id": "c1",
        "contact_key": "408-832-7799",
        "service_type": 10,
        "est_duration": 600,
        "auto_complete_after": 7200,
        "started": {
            "timestamp": "2026-03-07T04:05:06.600Z",
            "session_id": "s" * 32,
            "interaction_id": "i" * 50,
            "application_type": "IVR",
            "application_id": 42,
            "resource_type": 3.5,
            "resource_id": 7,
            "media_type": "voice",
        },
        "Satisfaction": {"rating": 2, "tags": ["fast", None]},
        "score": 1.25,
    }


async def test_timestamp_defaults_to_now(cs_api: Api) -> None:
    sid = await start(cs_api, contact_key="k")
    assert (await get(cs_api, sid))["started"] == {"timestamp": "2027-01-15T08:00:00.000Z"}


async def test_attached_data_appears_only_as_selected(cs_api: Api) -> None:
    sid = await start(cs_api, customer_id="c", a=1, b={"x": 2}, c=[3])
    assert "a" not in await get(cs_api, sid)
    picked = await get(cs_api, sid, extensions="a,c")
    assert (picked["a"], picked["c"]) == (1, [3])
    assert "b" not in picked
    repeated = await cs_api.client.get(f"{CS}/services/{sid}?extensions=a&extensions=b")
    assert {"a", "b"} <= repeated.json().keys()


async def test_nested_arrays_and_extension_prefixes(cs_api: Api) -> None:
    sid = await start(cs_api, customer_id="c", own=0)
    base = f"{CS}/services/{sid}"
    s1 = (await cs_api.client.post(f"{base}/states/start", json={"state_type": 1, "f": 1})).json()
    s2 = (await cs_api.client.post(f"{base}/states/start", json={"state_type": 2, "f": 2})).json()
    t1 = (await cs_api.client.post(f"{base}/tasks/start", json={"task_type": 9, "g": 3})).json()
    await cs_api.client.post(f"{base}/states/{s1['state_id']}/end", json={})
    plain = await get(cs_api, sid)
    assert not {"active_states", "completed_states", "active_tasks", "completed_tasks"} & set(plain)
    shown = await get(
        cs_api,
        sid,
        active_states="true",
        completed_states="true",
        active_tasks="true",
        completed_tasks="true",
        extensions="State.f,Task",
    )
    assert [s["state_id"] for s in shown["active_states"]] == [s2["state_id"]]
    assert [s["state_id"] for s in shown["completed_states"]] == [s1["state_id"]]
    assert shown["active_tasks"] == [
        {"task_id": t1["task_id"], "task_type": 9, "started": shown["started"], "g": 3}
    ]
    assert shown["completed_tasks"] == []
    assert shown["active_states"][0]["f"] == 2
    assert "own" not in shown
    assert "service_id" not in shown["active_states"][0]
    typed = await get(cs_api, sid, active_states="true", state_types="1,2", completed_states="true")
    assert len(typed["active_states"]) == 1
    assert len(typed["completed_states"]) == 1
    only_two = await get(cs_api, sid, active_states="true", state_types="2")
    assert [s["state_type"] for s in only_two["active_states"]] == [2]


async def test_end_shows_disposition_on_top_and_under_completed(cs_api: Api) -> None:
    start_body = {"customer_id": "c", "service_type": "sales", "session_id": "s1", "note": "n"}
    sid = await start(cs_api, **start_body)
    end_body = {**start_body, "disposition": 3, "disposition_desc": "d" * 64, "result": "won"}
    response = await cs_api.client.post(f"{CS}/services/{sid}/end", json=end_body)
    assert response.status_code == 204
    assert response.content == b""
    shown = await get(cs_api, sid, extensions="*")
    assert shown["disposition"] == 3
    assert shown["disposition_desc"] == "d" * 64
    assert shown["completed"] == {
        "timestamp": "2027-01-15T08:00:00.000Z",
        "session_id": "s1",
        "disposition": 3,
        "disposition_desc": "d" * 64,
    }
    assert (shown["note"], shown["result"], shown["service_type"]) == ("n", "won", "sales")


async def test_delete(cs_api: Api) -> None:
    sid = await start(cs_api, customer_id="c")
    await cs_api.client.post(f"{CS}/services/{sid}/states/start", json={})
    response = await cs_api.client.delete(f"{CS}/services/{sid}")
    assert response.status_code == 200
    assert (await cs_api.client.get(f"{CS}/services/{sid}")).status_code == 404
    assert (await cs_api.client.get(f"{CS}/services/{sid}/states")).status_code == 404
    assert (await cs_api.client.delete(f"{CS}/services/{sid}")).status_code == 404


async def test_put_ttl_and_expiration_time(cs_api: Api) -> None:
    sid = await start(cs_api, customer_id="c", ttl=60)
    response = await cs_api.client.put(
        f"{CS}/services/{sid}", json={"ttl": 3600, "expiration_time": "2020-01-01T00:00:00Z"}
    )
    assert response.status_code == 200
    assert response.json() == {"service_id": sid, "expiration_time": "2027-01-15T09:00:00.000Z"}
    await cs_api.advance(1800)
    await get(cs_api, sid)
    response = await cs_api.client.put(
        f"{CS}/services/{sid}", json={"expiration_time": "2027-01-15T08:31:00Z"}
    )
    assert response.status_code == 200
    await cs_api.advance(60)
    assert (await cs_api.client.get(f"{CS}/services/{sid}")).status_code == 404


async def test_extensions_put_on_service_state_and_task(cs_api: Api) -> None:
    sid = await start(cs_api, customer_id="c", Feedback={"old": 1}, keep=1)
    base = f"{CS}/services/{sid}"
    state = (await cs_api.client.post(f"{base}/states/start", json={})).json()["state_id"]
    task = (await cs_api.client.post(f"{base}/tasks/start", json={})).json()["task_id"]
    for path, value in (
        (f"{base}/extensions/Feedback", {"rating": 7, "notes": "warm"}),
        (f"{base}/states/{state}/extensions/Survey", [1, 2]),
        (f"{base}/tasks/{task}/extensions/Done", True),
    ):
        response = await cs_api.client.put(path, json=value)
        assert response.status_code == 200, response.text
    assert (await get(cs_api, sid, extensions="*"))["Feedback"] == {"rating": 7, "notes": "warm"}
    state_shown = await cs_api.client.get(f"{base}/states/{state}?extensions=Survey")
    assert state_shown.json()["Survey"] == [1, 2]
    task_shown = await cs_api.client.get(f"{base}/tasks/{task}?extensions=*")
    assert task_shown.json()["Done"] is True


async def test_associate_and_reassociate(cs_api: Api) -> None:
    sid = await start(cs_api, contact_key="408", session_id="s1")
    assert await listed(cs_api, "/services/anonymous/408") == [sid]
    response = await cs_api.client.post(
        f"{CS}/customers/ann/services/{sid}",
        json={"interaction_id": "i2", "customer_id": "ignored", "vip": True},
    )
    assert response.status_code == 200
    assert await listed(cs_api, "/services/anonymous/408") == []
    assert await listed(cs_api, "/customers/ann/services") == [sid]
    shown = await get(cs_api, sid, extensions="vip")
    assert shown["customer_id"] == "ann"
    assert shown["vip"] is True
    assert shown["started"] == {
        "timestamp": "2027-01-15T08:00:00.000Z",
        "session_id": "s1",
        "interaction_id": "i2",
    }
    response = await cs_api.client.post(f"{CS}/customers/bob/services/{sid}")
    assert response.status_code == 200
    assert await listed(cs_api, "/customers/ann/services") == []
    assert await listed(cs_api, "/customers/bob/services") == [sid]


async def test_customer_and_anonymous_lists(cs_api: Api) -> None:
    first = await start(cs_api, customer_id="ann", contact_key="k", service_type=1)
    await cs_api.advance(1)
    second = await start(cs_api, customer_id="ann", service_type="2")
    anon = await start(cs_api, contact_key="k")
    await cs_api.client.post(f"{CS}/services/{first}/end", json={})
    assert await listed(cs_api, "/customers/ann/services") == [second, first]
    assert await listed(cs_api, "/customers/ann/services/active") == [second]
    assert await listed(cs_api, "/customers/ann/services/completed") == [first]
    assert await listed(cs_api, "/services/anonymous/k") == [anon]
    assert await listed(cs_api, "/services/anonymous/k/active") == [anon]
    assert await listed(cs_api, "/services/anonymous/k/completed") == []
    assert await listed(cs_api, "/customers/nobody/services") == []


async def test_query_filters(cs_api: Api) -> None:
    made = []
    for n in range(4):
        made.append(
            await start(
                cs_api, customer_id="c", service_type=n, color="red" if n % 2 else "blue", n=n
            )
        )
        await cs_api.advance(60)
    await cs_api.client.post(f"{CS}/services/{made[0]}/end", json={})
    path = "/customers/c/services"
    assert await listed(cs_api, path, {"service_types": "1,3"}) == [made[3], made[1]]
    assert await listed(cs_api, path + "?service_types=1&service_types=2") == [made[2], made[1]]
    window = {"started_from": "2027-1-15T8:1:0.000Z", "started_to": "2027-01-15T08:03:00.000Z"}
    assert await listed(cs_api, path, window) == [made[2], made[1]]
    done = {"completed_from": "2027-01-15T08:04:00Z", "completed_to": "2027-01-15T08:05:00Z"}
    assert await listed(cs_api, path, done) == [made[0]]
    assert await listed(cs_api, path, {"color": "red"}) == [made[3], made[1]]
    assert await listed(cs_api, path, {"color": "red", "n": "3"}) == [made[3]]
    assert await listed(cs_api, path + "?n=0&n=2") == [made[2], made[0]]
    shown = await cs_api.client.get(CS + path, params={"extensions": "color", "limit": "1"})
    assert shown.json()[0]["color"] == "red"


async def test_paging_has_a_cap_and_a_next_offset(cs_api: Api) -> None:
    made = []
    for _ in range(5):
        made.append(await start(cs_api, customer_id="c"))
        await cs_api.advance(1)  # equal start times would order by id
    newest_first = list(reversed(made))
    response = await cs_api.client.get(f"{CS}/customers/c/services", params={"limit": 2})
    assert [s["service_id"] for s in response.json()] == newest_first[:2]
    assert response.headers["x-next-offset"] == "2"
    response = await cs_api.client.get(
        f"{CS}/customers/c/services", params={"limit": 2, "offset": 4}
    )
    assert [s["service_id"] for s in response.json()] == newest_first[4:]
    assert "x-next-offset" not in response.headers
    response = await cs_api.client.get(f"{CS}/customers/c/services", params={"limit": 1001})
    assert response.status_code == 400
    assert "1000" in response.json()["message"]
