"""SPEC section 5, states and tasks: start, end, transition, read, list, filters."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api

CS = "/genesys/1/cs"


async def service(api: Api) -> str:
    response = await api.client.post(f"{CS}/services/start", json={"customer_id": "c"})
    assert response.status_code == 201, response.text
    return str(response.json()["service_id"])


async def post(api: Api, path: str, body: Any = None, status: int = 201) -> Any:
    response = await api.client.post(CS + path, json=body)
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def get(api: Api, path: str, params: Any = None) -> Any:
    response = await api.client.get(CS + path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_state_start_end_and_read(cs_api: Api) -> None:
    sid = await service(cs_api)
    response = await cs_api.client.post(
        f"{CS}/services/{sid}/states/start",
        json={"state_type": 8, "est_duration": 60, "media_type": 2, "Feedback": {"r": 7}},
    )
    assert response.status_code == 201
    state = response.json()["state_id"]
    assert isinstance(state, int)
    assert response.headers["location"] == f"{CS}/services/{sid}/states/{state}"
    await post(cs_api, f"/services/{sid}/states/{state}/end", {"disposition": "done"}, 204)
    shown = await get(cs_api, f"/services/{sid}/states/{state}", {"extensions": "Feedback"})
    assert shown == {
        "service_id": sid,
        "state_id": state,
        "state_type": 8,
        "est_duration": 60,
        "started": {"timestamp": "2027-01-15T08:00:00.000Z", "media_type": 2},
        "completed": {"timestamp": "2027-01-15T08:00:00.000Z", "disposition": "done"},
        "disposition": "done",
        "Feedback": {"r": 7},
    }


async def test_task_start_end_and_read(cs_api: Api) -> None:
    sid = await service(cs_api)
    state = (await post(cs_api, f"/services/{sid}/states/start", {}))["state_id"]
    response = await cs_api.client.post(
        f"{CS}/services/{sid}/tasks/start",
        json={"task_type": "auth", "state_id": str(state), "resource_id": 4},
    )
    assert response.status_code == 201
    task = response.json()["task_id"]
    assert response.headers["location"] == f"{CS}/services/{sid}/tasks/{task}"
    await post(cs_api, f"/services/{sid}/tasks/{task}/end", {"disposition_desc": "ok"}, 204)
    shown = await get(cs_api, f"/services/{sid}/tasks/{task}")
    assert shown["state_id"] == state
    assert shown["task_type"] == "auth"
    assert shown["completed"]["disposition_desc"] == "ok"
    assert shown["disposition_desc"] == "ok"


async def test_ids_as_numeric_strings(cs_api: Api) -> None:
    sid = await service(cs_api)
    state = (await post(cs_api, f"/services/{sid}/states/start", {}))["state_id"]
    moved = await post(
        cs_api,
        f"/services/{sid}/states/transition",
        {"from": {"state_id": str(state)}, "to": {"state_type": 2}},
    )
    assert isinstance(moved["state_id"], int)


async def test_transition_ends_one_state_and_starts_the_next(cs_api: Api) -> None:
    sid = await service(cs_api)
    ivr = (await post(cs_api, f"/services/{sid}/states/start", {"state_type": "ivr"}))["state_id"]
    await cs_api.advance(30)
    response = await cs_api.client.post(
        f"{CS}/services/{sid}/states/transition",
        json={
            "from": {"state_id": ivr, "disposition": 1, "disposition_desc": "to agent", "why": "x"},
            "to": {"state_type": "agent", "est_duration": 300, "queue": "gold"},
            "interaction_id": "call-1",
            "channel": "voice",
        },
    )
    assert response.status_code == 201, response.text
    agent = response.json()["state_id"]
    assert response.headers["location"] == f"{CS}/services/{sid}/states/{agent}"
    ended = await get(cs_api, f"/services/{sid}/states/{ivr}", {"extensions": "*"})
    assert ended["completed"] == {
        "timestamp": "2027-01-15T08:00:30.000Z",
        "interaction_id": "call-1",
        "disposition": 1,
        "disposition_desc": "to agent",
    }
    assert ended["why"] == "x"
    started = await get(cs_api, f"/services/{sid}/states/{agent}", {"extensions": "*"})
    assert started["previous_state_id"] == ivr
    assert started["est_duration"] == 300
    assert started["started"] == {
        "timestamp": "2027-01-15T08:00:30.000Z",
        "interaction_id": "call-1",
    }
    assert (started["queue"], started["channel"]) == ("gold", "voice")
    assert "completed" not in started


async def test_lists_all_active_completed_and_by_type(cs_api: Api) -> None:
    sid = await service(cs_api)
    base = f"/services/{sid}"
    states = [
        (await post(cs_api, f"{base}/states/start", {"state_type": t}))["state_id"]
        for t in (1, 2, 1)
    ]
    await post(cs_api, f"{base}/states/{states[0]}/end", {}, 204)
    assert [s["state_id"] for s in await get(cs_api, f"{base}/states")] == states
    assert [s["state_id"] for s in await get(cs_api, f"{base}/states/active")] == states[1:]
    assert [s["state_id"] for s in await get(cs_api, f"{base}/states/completed")] == states[:1]
    typed = await get(cs_api, f"{base}/states", {"state_types": "1"})
    assert [s["state_id"] for s in typed] == [states[0], states[2]]
    assert all("service_id" not in s for s in await get(cs_api, f"{base}/states"))
    tasks = [
        (await post(cs_api, f"{base}/tasks/start", {"task_type": t, "state_id": s}))["task_id"]
        for t, s in (("a", states[1]), ("b", states[1]), ("a", states[2]))
    ]
    await post(cs_api, f"{base}/tasks/{tasks[1]}/end", {}, 204)
    assert [t["task_id"] for t in await get(cs_api, f"{base}/tasks/active")] == [tasks[0], tasks[2]]
    assert [t["task_id"] for t in await get(cs_api, f"{base}/tasks/completed")] == [tasks[1]]
    by_type = await get(cs_api, f"{base}/tasks?task_types=a&state_id={states[2]}")
    assert [t["task_id"] for t in by_type] == [tasks[2]]
    with_tasks = await get(cs_api, f"{base}/states/active", {"active_tasks": "true"})
    assert [[t["task_id"] for t in s["active_tasks"]] for s in with_tasks] == [
        [tasks[0]],
        [tasks[2]],
    ]
    assert all("completed_tasks" not in s for s in with_tasks)
    one = await get(cs_api, f"{base}/states/{states[1]}", {"completed_tasks": "true"})
    assert [t["task_id"] for t in one["completed_tasks"]] == [tasks[1]]


async def test_states_and_tasks_on_an_ended_service(cs_api: Api) -> None:
    sid = await service(cs_api)
    open_state = (await post(cs_api, f"/services/{sid}/states/start", {}))["state_id"]
    await post(cs_api, f"/services/{sid}/end", {}, 204)
    ended = await get(cs_api, f"/services/{sid}/states/{open_state}")
    assert ended["completed"] == {"timestamp": "2027-01-15T08:00:00.000Z"}
    late = await post(cs_api, f"/services/{sid}/states/start", {"state_type": "survey"})
    task = await post(cs_api, f"/services/{sid}/tasks/start", {"task_type": "call-back"})
    assert late["state_id"] != task["task_id"]
    assert [s["state_type"] for s in await get(cs_api, f"/services/{sid}/states/active")] == [
        "survey"
    ]


async def test_state_and_task_ids_are_unique_within_the_service(cs_api: Api) -> None:
    one, two = await service(cs_api), await service(cs_api)
    got = set()
    for sid in (one, two):
        for kind in ("states", "tasks", "states"):
            answer = await post(cs_api, f"/services/{sid}/{kind}/start", {})
            got.add((sid, next(iter(answer.values()))))
    assert len(got) == 6
    assert {n for sid, n in got if sid == one} == {1, 2, 3}
