"""SPEC section 3, built-in services: request-interaction, request-access, match-interaction."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import httpx

from tests.api.conftest import Api

BASE = "/genesys/1/service"
DNIS = {"8003449999", "8003449998", "8003449997"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def post(api: Api, name: str, **data: str) -> httpx.Response:
    return await api.client.post(f"{BASE}/{name}", data=data)


async def test_request_interaction_reserves_number_and_code(api: Api) -> None:
    response = await post(api, "request-interaction", first_name="Ann")
    assert response.status_code == 200
    answer = response.json()
    assert answer["_access_number"] in DNIS
    assert re.fullmatch(r"9\d{5}", answer["_access_code"])  # access_code_prefix = "9"
    assert ISO_MS.match(answer["_expiration_time"])
    expires = datetime.strptime(answer["_expiration_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert expires.replace(tzinfo=UTC).timestamp() == api.harness.clock.now() + 120
    stored = await api.client.get(f"{BASE}/{answer['_id']}/storage")
    assert stored.json() == {"first_name": "Ann"}


async def test_round_robin_over_the_pool(api: Api) -> None:
    numbers = [(await post(api, "request-interaction")).json()["_access_number"] for _ in range(6)]
    assert set(numbers[:3]) == DNIS
    assert numbers[:3] == numbers[3:]


async def test_code_length_parameter(api: Api) -> None:
    answer = (await post(api, "request-interaction", _access_code_length="4")).json()
    assert re.fullmatch(r"9\d{3}", answer["_access_code"])
    bad = await post(api, "request-interaction", _access_code_length="zero")
    assert bad.status_code == 400


async def test_without_code_a_number_is_held_by_one_service(api: Api) -> None:
    first = (await post(api, "ri-nocode")).json()
    second = (await post(api, "ri-nocode")).json()
    assert "_access_code" not in first
    assert {first["_access_number"], second["_access_number"]} == {"5550001", "5550002"}
    full = await post(api, "ri-nocode", note="third")
    assert full.status_code == 503
    assert "no access number" in full.json()["message"]
    # Matching frees the number for the next caller.
    matched = await post(api, "match-interaction", _access_number=first["_access_number"])
    assert matched.json()["_id"] == first["_id"]
    assert (await post(api, "ri-nocode")).status_code == 200


async def test_full_pool_leaves_nothing_behind(api: Api) -> None:
    await post(api, "ri-nocode")
    await post(api, "ri-nocode")
    assert (await post(api, "ri-nocode", secret="x")).status_code == 503
    # The next free number goes to a new caller once a reservation expires (ttl 120).
    await api.advance(121)
    assert (await post(api, "ri-nocode")).status_code == 200


async def test_match_by_number_and_code_releases(api: Api) -> None:
    a = (await post(api, "request-interaction", who="a")).json()
    b = (await post(api, "request-interaction", who="b")).json()
    matched = await post(
        api, "match-interaction", _access_number=b["_access_number"], _access_code=b["_access_code"]
    )
    assert matched.status_code == 200
    assert matched.json() == {"_id": b["_id"], "_data_id": b["_id"]}
    again = await post(
        api, "match-interaction", _access_number=b["_access_number"], _access_code=b["_access_code"]
    )
    assert again.status_code == 404
    assert (
        await post(
            api,
            "match-interaction",
            _access_number=a["_access_number"],
            _access_code=a["_access_code"],
        )
    ).json()["_id"] == a["_id"]


async def test_match_by_number_alone_takes_most_recent(api: Api) -> None:
    first = (await post(api, "ri-nocode")).json()
    await api.advance(1)
    answer = (await post(api, "match-interaction", _access_number=first["_access_number"])).json()
    assert answer["_id"] == first["_id"]


async def test_match_returns_user_data_on_request(api: Api) -> None:
    held = (await post(api, "request-interaction", first_name="Ann", topic="bill")).json()
    answer = (
        await post(
            api,
            "match-interaction",
            _access_number=held["_access_number"],
            _access_code=held["_access_code"],
            _return_user_data="true",
        )
    ).json()
    assert answer == {
        "first_name": "Ann",
        "topic": "bill",
        "_id": held["_id"],
        "_data_id": held["_id"],
    }


async def test_match_errors(api: Api) -> None:
    assert (await post(api, "match-interaction")).status_code == 400
    assert (await post(api, "match-interaction", _access_number="123")).status_code == 404
    held = (await post(api, "request-interaction")).json()
    wrong = await post(
        api, "match-interaction", _access_number=held["_access_number"], _access_code="000000"
    )
    assert wrong.status_code == 404


async def test_expired_reservation_does_not_match(api: Api) -> None:
    held = (await post(api, "request-interaction")).json()
    await api.advance(121)
    response = await post(
        api,
        "match-interaction",
        _access_number=held["_access_number"],
        _access_code=held["_access_code"],
    )
    assert response.status_code == 404


async def test_deleted_service_releases_its_reservation(api: Api) -> None:
    held = (await post(api, "request-interaction")).json()
    assert (await api.client.delete(f"{BASE}/{held['_id']}")).status_code == 200
    response = await post(
        api,
        "match-interaction",
        _access_number=held["_access_number"],
        _access_code=held["_access_code"],
    )
    assert response.status_code == 404


async def test_request_access_for_an_existing_service(api: Api) -> None:
    service = (await api.client.post(f"{BASE}/store", data={"case": "42"})).json()["_id"]
    response = await post(api, "request-access", _id=service)
    assert response.status_code == 200
    answer = response.json()
    assert answer["_id"] == service
    assert answer["_access_number"] in DNIS
    assert re.fullmatch(r"9\d{5}", answer["_access_code"])
    expires = datetime.strptime(answer["_expiration_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert expires.replace(tzinfo=UTC).timestamp() == api.harness.clock.now() + 300
    matched = (
        await post(
            api,
            "match-interaction",
            _access_number=answer["_access_number"],
            _access_code=answer["_access_code"],
            _return_user_data="true",
        )
    ).json()
    assert matched == {"case": "42", "_id": service, "_data_id": service}


async def test_request_access_errors(api: Api) -> None:
    assert (await post(api, "request-access")).status_code == 400
    assert (await post(api, "request-access", _id="no-such-service")).status_code == 404


async def test_200_simultaneous_reservations_are_unique_and_match(api: Api) -> None:
    responses = await asyncio.gather(
        *(post(api, "request-interaction", n=str(i)) for i in range(200))
    )
    answers = [r.json() for r in responses]
    assert all(r.status_code == 200 for r in responses)
    pairs = {(a["_access_number"], a["_access_code"]) for a in answers}
    assert len(pairs) == 200
    matches = await asyncio.gather(
        *(
            post(
                api,
                "match-interaction",
                _access_number=a["_access_number"],
                _access_code=a["_access_code"],
                _return_user_data="true",
            )
            for a in answers
        )
    )
    for answer, match in zip(answers, matches, strict=True):
        assert match.status_code == 200
        assert match.json()["_id"] == answer["_id"]
        assert (
            match.json()["n"]
            == (await api.client.get(f"{BASE}/{answer['_id']}/storage/n")).json()["n"]
        )
