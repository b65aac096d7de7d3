"""SPEC section 3: every row of the Service API table, in each encoding, with its errors."""

from __future__ import annotations

import uuid

import orjson

from tests.api.conftest import Api

BASE = "/genesys/1/service"


async def create(api: Api, name: str = "store", **kwargs: object) -> str:
    response = await api.client.post(f"{BASE}/{name}", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    service_id = response.json()["_id"]
    uuid.UUID(service_id)
    return str(service_id)


async def test_create_urlencoded_stores_data_not_parameters(api: Api) -> None:
    sid = await create(api, data={"name": "Ann", "city": "Paris", "_unknown": "x", "empty": ""})
    response = await api.client.get(f"{BASE}/{sid}/storage")
    assert response.status_code == 200
    assert response.json() == {"name": "Ann", "city": "Paris", "empty": ""}


async def test_create_json_flattens_java_style(api: Api) -> None:
    body = {
        "address": {"street": "mystreet", "city": "mycity"},
        "phones": ["9002@SIP_Switch", 5555666],
        "vip": True,
        "score": 1.5,
        "count": 3,
        "nothing": None,
    }
    sid = await create(api, json=body)
    stored = (await api.client.get(f"{BASE}/{sid}/storage")).json()
    assert stored == {
        "address": "{street=mystreet, city=mycity}",
        "phones": "[9002@SIP_Switch, 5555666]",
        "vip": "true",
        "score": "1.5",
        "count": "3",
        "nothing": "null",
    }


async def test_create_multipart_with_file(api: Api) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\xff" * 100
    sid = await create(api, data={"first": "Ann"}, files={"photo": ("me.png", png, "image/png")})
    assert (await api.client.get(f"{BASE}/{sid}/storage")).json() == {"first": "Ann"}
    response = await api.client.get(f"{BASE}/{sid}/storage/binary/photo")
    assert response.status_code == 200
    assert response.content == png
    assert response.headers["content-type"] == "image/png"
    assert "me.png" in response.headers["content-disposition"]


async def test_unknown_service_name_is_404(api: Api) -> None:
    response = await api.client.post(f"{BASE}/no-such-service", data={"a": "1"})
    assert response.status_code == 404
    body = response.json()
    assert "no-such-service" in body["message"]
    assert body["exception"].startswith("com.genesyslab.gms.")


async def test_malformed_json_is_documented_500(api: Api) -> None:
    response = await api.client.post(
        f"{BASE}/store", content=b'{"a": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 500
    assert response.json()["message"].startswith("Could not read JSON")


async def test_read_one_key_is_an_object(api: Api) -> None:
    sid = await create(api, data={"k": "v"})
    response = await api.client.get(f"{BASE}/{sid}/storage/k")
    assert response.status_code == 200
    assert response.json() == {"k": "v"}
    missing = await api.client.get(f"{BASE}/{sid}/storage/nope")
    assert missing.status_code == 404
    assert "nope" in missing.json()["message"]
    assert (await api.client.get(f"{BASE}/{sid}/storage/binary/nope")).status_code == 404


async def test_post_storage_in_each_encoding(api: Api) -> None:
    sid = await create(api, data={"a": "1"})
    assert (
        await api.client.post(f"{BASE}/{sid}/storage", data={"a": "2", "b": "x"})
    ).status_code == 200
    assert (await api.client.post(f"{BASE}/{sid}/storage", json={"c": [1, 2]})).status_code == 200
    multipart = await api.client.post(
        f"{BASE}/{sid}/storage",
        data={"d": "text"},
        files={"f": ("f.bin", b"\x00\x01", "application/x-thing")},
    )
    assert multipart.status_code == 200
    assert (await api.client.get(f"{BASE}/{sid}/storage")).json() == {
        "a": "2",
        "b": "x",
        "c": "[1, 2]",
        "d": "text",
    }
    assert (await api.client.get(f"{BASE}/{sid}/storage/binary/f")).content == b"\x00\x01"


async def test_delete_one_key_string_or_binary(api: Api) -> None:
    sid = await create(api, data={"a": "1", "b": "2"}, files={"f": ("f", b"x", "text/plain")})
    assert (await api.client.delete(f"{BASE}/{sid}/storage/a")).status_code == 200
    assert (await api.client.delete(f"{BASE}/{sid}/storage/f")).status_code == 200
    assert (await api.client.get(f"{BASE}/{sid}/storage")).json() == {"b": "2"}
    assert (await api.client.get(f"{BASE}/{sid}/storage/binary/f")).status_code == 404


async def test_delete_all_keys_keeps_the_service(api: Api) -> None:
    sid = await create(api, data={"a": "1", "b": "2"})
    assert (await api.client.delete(f"{BASE}/{sid}/storage")).status_code == 200
    assert (await api.client.get(f"{BASE}/{sid}/storage")).json() == {}
    assert (await api.client.post(f"{BASE}/{sid}/storage", data={"c": "3"})).status_code == 200


async def test_delete_service_then_everything_is_404(api: Api) -> None:
    sid = await create(api, data={"a": "1"})
    assert (await api.client.delete(f"{BASE}/{sid}")).status_code == 200
    calls = [
        api.client.get(f"{BASE}/{sid}/storage"),
        api.client.get(f"{BASE}/{sid}/storage/a"),
        api.client.post(f"{BASE}/{sid}/storage", data={"b": "2"}),
        api.client.post(f"{BASE}/{sid}/update", data={"b": "2"}),
        api.client.delete(f"{BASE}/{sid}/storage"),
        api.client.delete(f"{BASE}/{sid}"),
    ]
    for call in calls:
        assert (await call).status_code == 404


async def test_update_request_exists_on_every_service(api: Api) -> None:
    sid = await create(api, data={"a": "1"})
    response = await api.client.post(f"{BASE}/{sid}/update", data={"a": "2", "b": "3", "_p": "x"})
    assert response.status_code == 200
    assert response.json() == {"_id": sid}
    assert (await api.client.get(f"{BASE}/{sid}/storage")).json() == {"a": "2", "b": "3"}


async def test_unknown_request_or_id_is_404(api: Api) -> None:
    sid = await create(api)
    assert (await api.client.post(f"{BASE}/{sid}/dance")).status_code == 404
    assert (
        await api.client.post(f"{BASE}/{uuid.uuid4()}/update", data={"a": "1"})
    ).status_code == 404


async def test_service_expires_ttl_after_last_write(api: Api) -> None:
    sid = await create(api, data={"a": "1"})  # store: _ttl = 60
    await api.advance(50)
    assert (await api.client.post(f"{BASE}/{sid}/storage", data={"b": "2"})).status_code == 200
    await api.advance(50)  # 100 s after creation, 50 s after the last write
    assert (await api.client.get(f"{BASE}/{sid}/storage")).json() == {"a": "1", "b": "2"}
    await api.advance(11)
    assert (await api.client.get(f"{BASE}/{sid}/storage")).status_code == 404
    assert (await api.client.get(f"{BASE}/{sid}/storage/a")).status_code == 404


async def test_configured_ttl_wins_unless_overwritable(api: Api) -> None:
    fixed = await create(api, "store", data={"_ttl": "1000", "a": "1"})
    flexible = await create(api, "flexible", data={"_ttl": "1000", "a": "1"})
    await api.advance(61)
    assert (await api.client.get(f"{BASE}/{fixed}/storage")).status_code == 404
    assert (await api.client.get(f"{BASE}/{flexible}/storage")).status_code == 200


async def test_key_with_slash_and_unicode_in_url(api: Api) -> None:
    sid = await create(api, data={"a/b": "slash", "ключ": "значение"})
    assert (await api.client.get(f"{BASE}/{sid}/storage/a/b")).json() == {"a/b": "slash"}
    response = await api.client.get(f"{BASE}/{sid}/storage/ключ")
    assert orjson.loads(response.content) == {"ключ": "значение"}


async def test_keys_with_line_breaks_in_url(api: Api) -> None:
    """Found by the schemathesis run: `{key:path}` stopped at a line break (wrong key or 405)."""
    sid = await create(api, data={"ab\n": "newline", "ab": "plain", "a\nb": "inside"})
    assert (await api.client.get(f"{BASE}/{sid}/storage/ab%0A")).json() == {"ab\n": "newline"}
    assert (await api.client.get(f"{BASE}/{sid}/storage/a%0Ab")).json() == {"a\nb": "inside"}
    binary = await api.client.get(f"{BASE}/{sid}/storage/binary/a%0Ab")
    assert (binary.status_code, binary.content) == (200, b"inside")
    assert (await api.client.delete(f"{BASE}/{sid}/storage/a%0Ab")).status_code == 200
    assert (await api.client.get(f"{BASE}/{sid}/storage")).json() == {
        "ab\n": "newline",
        "ab": "plain",
    }


async def test_node_api_and_unknown_route(api: Api) -> None:
    node = await api.client.get("/genesys/1/node")
    assert node.status_code == 200
    assert node.json()["status"] == "ok"
    assert "x-request-id" in node.headers
    missing = await api.client.get("/genesys/1/elsewhere")
    assert missing.status_code == 404
    assert missing.json()["exception"].startswith("com.genesyslab.gms.")
    wrong = await api.client.put(f"{BASE}/store")
    assert wrong.status_code == 405
