"""SPEC section 5, errors: every one with the Context Services body, and nothing half-written."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import CS_CONFIG, Api, OpenApi

CS = "/genesys/1/cs"
EXCEPTION = (
    "com.genesyslab.gsg.services.contextservices.exceptions.ContextServicesExceptionResource"
)
MISSING = "1800000000-00000000-0000-4000-8000-000000000000"


def refused(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["exception"] == EXCEPTION
    assert set(body) == {"message", "exception"}
    for word in words:
        assert word in body["message"], body["message"]


async def service(api: Api, **body: Any) -> str:
    response = await api.client.post(f"{CS}/services/start", json={"customer_id": "c", **body})
    assert response.status_code == 201, response.text
    return str(response.json()["service_id"])


async def count(api: Api, customer: str = "c") -> int:
    return len((await api.client.get(f"{CS}/customers/{customer}/services")).json())


async def test_unknown_things_are_404(cs_api: Api) -> None:
    sid = await service(cs_api)
    for method, path in (
        ("GET", f"/services/{MISSING}"),
        ("GET", "/services/not-an-id"),
        ("DELETE", f"/services/{MISSING}"),
        ("POST", f"/services/{MISSING}/end"),
        ("PUT", f"/services/{MISSING}"),
        ("POST", f"/services/{MISSING}/states/start"),
        ("GET", f"/services/{MISSING}/tasks"),
        ("GET", f"/services/{sid}/states/7"),
        ("GET", f"/services/{sid}/tasks/x"),
        ("POST", f"/services/{sid}/states/7/end"),
        ("POST", f"/services/{sid}/tasks/7/end"),
        ("PUT", f"/services/{sid}/tasks/7/extensions/a"),
        ("POST", f"/customers/ann/services/{MISSING}"),
        ("GET", "/no/such/path"),
    ):
        body = {"ttl": 5} if method == "PUT" else {}
        response = await cs_api.client.request(method, CS + path, json=body)
        refused(response, 404)
    response = await cs_api.client.post(f"{CS}/services/{sid}/tasks/start", json={"state_id": 99})
    refused(response, 404, "state 99")


BAD_STARTS: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"customer_id": "c", "session_id": "s" * 33}, ("session_id", "32")),
    ({"customer_id": "c", "interaction_id": "i" * 51}, ("interaction_id", "50")),
    ({"customer_id": "c" * 257}, ("customer_id",)),
    ({"customer_id": "c", "session_id": 5}, ("session_id", "string")),
    ({"customer_id": "c", "application_id": "abc"}, ("application_id", "integer")),
    ({"customer_id": "c", "resource_id": True}, ("resource_id",)),
    ({"customer_id": "c", "media_type": {"a": 1}}, ("media_type",)),
    ({"customer_id": "c", "application_type": None, "service_type": [1]}, ("service_type",)),
    ({"customer_id": "c", "est_duration": "soon"}, ("est_duration",)),
    ({"customer_id": "c", "timestamp": "2016-Dec-07T04:05:06.634Z"}, ("timestamp",)),
    ({"customer_id": "c", "ttl": "forever"}, ("ttl",)),
    ({"customer_id": "c", "ttl": 0}, ("ttl",)),
    ({"customer_id": "c", "expiration_time": "2020-01-01T00:00:00Z"}, ("past",)),
    ({"customer_id": "c", "auto_complete_after": -1}, ("auto_complete_after",)),
    ({"customer_id": ["c"]}, ("customer_id",)),
    ({"service_type": 1}, ("customer_id or contact_key",)),
    ({"customer_id": "", "contact_key": ""}, ("customer_id or contact_key",)),
]


async def test_bad_service_starts(cs_api: Api) -> None:
    # One app for the whole table: each case is a request, the setup is the cost.
    for body, words in BAD_STARTS:
        refused(await cs_api.client.post(f"{CS}/services/start", json=body), 400, *words)
    assert await count(cs_api) == 0


async def test_malformed_json_is_400_with_the_cs_body(cs_api: Api) -> None:
    for raw in (b"{", b"[1, 2]", b'"text"', b"{'a': 1}", b'{"a": NaN}'):
        response = await cs_api.client.post(
            f"{CS}/services/start", content=raw, headers={"content-type": "application/json"}
        )
        refused(response, 400)
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    refused(
        await cs_api.client.post(f"{CS}/services/start", json={"customer_id": "c", "d": deep}), 400
    )
    assert await count(cs_api) == 0


async def test_too_large_body_is_413(cs_api: Api) -> None:
    body = {"customer_id": "c", "blob": "x" * 70_000}
    refused(await cs_api.client.post(f"{CS}/services/start", json=body), 413)
    assert await count(cs_api) == 0


async def test_sloppy_times_are_valid(cs_api: Api) -> None:
    sid = await service(cs_api, timestamp="2016-3-7T4:5:6.634Z")
    shown = (await cs_api.client.get(f"{CS}/services/{sid}")).json()
    assert shown["started"]["timestamp"] == "2016-03-07T04:05:06.634Z"
    response = await cs_api.client.get(
        f"{CS}/customers/c/services", params={"started_from": "2016-3-7T4:5:6.634Z"}
    )
    assert [s["service_id"] for s in response.json()] == [sid]
    response = await cs_api.client.get(
        f"{CS}/customers/c/services", params={"started_from": "2016-Dec-07T04:05:06.634Z"}
    )
    refused(response, 400, "started_from")


async def test_ending_twice_is_400_and_changes_nothing(cs_api: Api) -> None:
    sid = await service(cs_api)
    base = f"{CS}/services/{sid}"
    state = (await cs_api.client.post(f"{base}/states/start", json={})).json()["state_id"]
    task = (await cs_api.client.post(f"{base}/tasks/start", json={})).json()["task_id"]
    for path in (f"{base}/states/{state}/end", f"{base}/tasks/{task}/end", f"{base}/end"):
        assert (await cs_api.client.post(path, json={"disposition": 1})).status_code == 204
        refused(await cs_api.client.post(path, json={"disposition": 2, "extra": 1}), 400, "ended")
    shown = (await cs_api.client.get(base, params={"extensions": "*"})).json()
    assert shown["disposition"] == 1
    assert "extra" not in shown


async def test_end_bodies_ignore_start_only_fields(cs_api: Api) -> None:
    start_body = {
        "customer_id": "c",
        "contact_key": "k",
        "service_type": 5,
        "est_duration": 10,
        "auto_complete_after": 60,
        "state_type": 3,
        "task_type": 4,
    }
    sid = await service(cs_api, **start_body)
    response = await cs_api.client.post(f"{CS}/services/{sid}/end", json=start_body)
    assert response.status_code == 204, response.text
    shown = (await cs_api.client.get(f"{CS}/services/{sid}", params={"extensions": "*"})).json()
    assert shown["completed"] == {"timestamp": "2027-01-15T08:00:00.000Z"}
    assert "state_type" not in shown  # a field of the model, never attached data


async def test_bad_transitions_change_nothing(cs_api: Api) -> None:
    sid = await service(cs_api)
    base = f"{CS}/services/{sid}"
    state = (await cs_api.client.post(f"{base}/states/start", json={})).json()["state_id"]
    for body, status in (
        ({"to": {"state_type": 2}}, 400),
        ({"from": {"state_id": "one"}, "to": {}}, 400),
        ({"from": {"state_id": state}, "to": {"state_type": [2]}}, 400),
        ({"from": {"state_id": state, "disposition_desc": "d" * 65}, "to": {}}, 400),
        ({"from": {"state_id": 99}, "to": {"state_type": 2}}, 404),
        ({"from": [state], "to": {}}, 400),
    ):
        refused(await cs_api.client.post(f"{base}/states/transition", json=body), status)
    states = (await cs_api.client.get(f"{base}/states")).json()
    assert [(s["state_id"], "completed" in s) for s in states] == [(state, False)]


async def test_bad_composite_entry_creates_nothing(cs_api: Api) -> None:
    good = {"service": {"customer_id": "c", "service_type": 1}, "state": {"state_type": 1}}
    for body in (
        {"services": [good, {"service": {"service_type": 2}}]},
        {"services": [good, {"service": {"customer_id": "c"}, "task": {"task_type": {}}}]},
        {"services": [good, {"state": {}}]},
        {"services": [good, {"service": {"customer_id": "c"}, "associate_state_task": "yes"}]},
        {"services": [good, "entry"]},
        {"services": []},
        {"services": {"service": {}}},
        [good],
    ):
        refused(await cs_api.client.post(f"{CS}/services_composite/start", json=body), 400)
    assert await count(cs_api) == 0


async def test_purge_errors(cs_api: Api) -> None:
    for body, words in (
        ({"operation": "purge.service.all"}, ("limit",)),
        ({"limit": "yesterday", "operation": "purge.service.all"}, ("limit",)),
        ({"limit": "2027-01-01T00:00:00Z", "operation": "purge.service.everything"}, ("unknown",)),
        ({"limit": "2027-01-01T00:00:00Z", "operation": "PURGE.SERVICE.ALL"}, ("unknown",)),
        ({"limit": "2027-01-01T00:00:00Z"}, ("unknown",)),
    ):
        refused(await cs_api.client.post(f"{CS}/maintenance/purge", json=body), 400, *words)


async def test_extension_errors(cs_api: Api) -> None:
    sid = await service(cs_api)
    refused(await cs_api.client.put(f"{CS}/services/{sid}/extensions/x"), 400, "body")
    refused(await cs_api.client.put(f"{CS}/services/{sid}/extensions/started", json=1), 400)
    refused(await cs_api.client.put(f"{CS}/services/{sid}", json={}), 400, "ttl")


async def test_bad_query_parameters(cs_api: Api) -> None:
    for params in (
        {"active_states": "maybe"},
        {"limit": "-1"},
        {"offset": "x"},
        {"completed_to": "2016-13-01T00:00:00Z"},
    ):
        response = await cs_api.client.get(f"{CS}/customers/c/services", params=params)
        refused(response, 400)
    refused(await cs_api.client.get(f"{CS}/customers/a%00b/services"), 400)


async def test_unlisted_tenant_is_refused(cs_api_factory: OpenApi) -> None:
    config = CS_CONFIG + 'tenants = ["acme", "globex"]\n'
    async with cs_api_factory(config) as api:
        response = await api.client.post(
            f"{CS}/services/start", json={"customer_id": "c"}, headers={"ContactCenterId": "evil"}
        )
        refused(response, 400)
        assert response.json()["message"] == "Invalid tenant specified : evil"
        for headers in ({"ContactCenterId": "acme"}, {}):
            response = await api.client.post(
                f"{CS}/services/start", json={"customer_id": "c"}, headers=headers
            )
            assert response.status_code == 201
