"""The GMS Storage API (SPEC section 4), through HTTP, on every backend."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api

BASE = "/genesys/1/storage"
NOT_FOUND = "com.genesyslab.gms.exceptions.NotFoundException"
PNG = bytes(range(256)) * 3 + b"\x00\r\n\x89PNG"


def _assert_error(response: httpx.Response, status: int, exception: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"message", "exception"}
    assert body["exception"] == exception
    assert body["message"]
    return body


def _assert_not_found(response: httpx.Response) -> None:
    _assert_error(response, 404, NOT_FOUND)


async def _create(api: Api, ttl: int | str = 60, **kwargs: Any) -> str:
    response = await api.client.post(f"{BASE}/{ttl}", **kwargs)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["id"]
    assert str(uuid.UUID(body["id"])) == body["id"]
    area_id: str = body["id"]
    return area_id


async def _read_all(api: Api, area_id: str, headers: dict[str, str] | None = None) -> Any:
    response = await api.client.get(f"{BASE}/{area_id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


async def _assert_gone(api: Api, area_id: str, headers: dict[str, str] | None = None) -> None:
    """Every call of the Storage API on this id answers 404, as if it never existed."""
    client = api.client
    _assert_not_found(await client.get(f"{BASE}/{area_id}", headers=headers))
    _assert_not_found(await client.get(f"{BASE}/{area_id}/a", headers=headers))
    _assert_not_found(await client.get(f"{BASE}/binary/{area_id}/file", headers=headers))
    _assert_not_found(await client.post(f"{BASE}/{area_id}/60", data={"z": "1"}, headers=headers))
    _assert_not_found(await client.delete(f"{BASE}/{area_id}", headers=headers))


# --- create --------------------------------------------------------------------------------------


async def test_create_urlencoded_stores_every_key(api: Api) -> None:
    data = {"firstName": "Ann", "empty": "", "with space": "a b&c=d+e%f"}
    area_id = await _create(api, data=data)
    assert await _read_all(api, area_id) == data


async def test_create_with_no_body_makes_an_empty_area(api: Api) -> None:
    area_id = await _create(api)
    assert await _read_all(api, area_id) == {}


async def test_create_ids_are_fresh_uuids(api: Api) -> None:
    ids = {await _create(api, data={"a": "1"}) for _ in range(5)}
    assert len(ids) == 5


async def test_create_multipart_keeps_a_file_apart_from_the_string_keys(api: Api) -> None:
    area_id = await _create(
        api,
        data={"name": "Bob", "note": "line1\r\nline2"},
        files={"photo": ("photo.png", PNG, "image/png")},
    )
    assert await _read_all(api, area_id) == {"name": "Bob", "note": "line1\r\nline2"}

    response = await api.client.get(f"{BASE}/binary/{area_id}/photo")
    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == "attachment; filename*=UTF-8''photo.png"


async def test_binary_keeps_a_non_ascii_file_name_and_any_content_type(api: Api) -> None:
    area_id = await _create(
        api, files={"doc": ("résumé 2026.pdf", b"%PDF-1.7\n\xff\xfe", "application/pdf")}
    )
    response = await api.client.get(f"{BASE}/binary/{area_id}/doc")
    assert response.status_code == 200
    assert response.content == b"%PDF-1.7\n\xff\xfe"
    assert response.headers["content-type"] == "application/pdf"
    assert (
        response.headers["content-disposition"]
        == "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%202026.pdf"
    )


async def test_binary_empty_file_is_kept(api: Api) -> None:
    area_id = await _create(api, files={"blank": ("blank.dat", b"", "application/x-empty")})
    response = await api.client.get(f"{BASE}/binary/{area_id}/blank")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "application/x-empty"
    assert await _read_all(api, area_id) == {}


async def test_binary_text_file_keeps_its_stored_content_type(api: Api) -> None:
    latin1 = "café".encode("latin-1")
    area_id = await _create(api, files={"note": ("note.txt", latin1, "text/plain")})
    response = await api.client.get(f"{BASE}/binary/{area_id}/note")
    assert response.content == latin1
    assert response.headers["content-type"] == "text/plain"


async def test_create_json_flattens_values_to_text(api: Api) -> None:
    body = {
        "a": "1",
        "n": 5,
        "f": 2.5,
        "t": True,
        "address": {"street": "mystreet", "city": "mycity"},
        "phones": ["9002@SIP_Switch", 5555666],
    }
    area_id = await _create(api, json=body)
    assert await _read_all(api, area_id) == {
        "a": "1",
        "n": "5",
        "f": "2.5",
        "t": "true",
        "address": "{street=mystreet, city=mycity}",
        "phones": "[9002@SIP_Switch, 5555666]",
    }


# --- read ----------------------------------------------------------------------------------------


async def test_get_one_key_answers_an_object(api: Api) -> None:
    area_id = await _create(api, data={"color": "blue", "size": "L"})
    response = await api.client.get(f"{BASE}/{area_id}/color")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"color": "blue"}


async def test_get_one_key_with_an_empty_value(api: Api) -> None:
    area_id = await _create(api, data={"blank": ""})
    response = await api.client.get(f"{BASE}/{area_id}/blank")
    assert response.status_code == 200
    assert response.json() == {"blank": ""}


async def test_get_missing_key_is_404(api: Api) -> None:
    area_id = await _create(api, data={"color": "blue"})
    body = _assert_error(await api.client.get(f"{BASE}/{area_id}/size"), 404, NOT_FOUND)
    assert "size" in body["message"]
    # The area itself is untouched by the miss.
    assert await _read_all(api, area_id) == {"color": "blue"}


async def test_get_binary_missing_key_is_404(api: Api) -> None:
    area_id = await _create(api, files={"photo": ("p.png", PNG, "image/png")})
    _assert_not_found(await api.client.get(f"{BASE}/binary/{area_id}/other"))


async def test_keys_with_line_breaks_are_read_and_deleted_by_their_own_path(api: Api) -> None:
    """Found by the schemathesis run: Starlette's `{key:path}` stopped at a line break, so
    `GET .../ab%0A` read the key `ab` and `GET .../a%0Ab` was a 405."""
    area_id = await _create(api, data={"ab\n": "newline", "ab": "plain", "a\nb": "inside"})
    response = await api.client.get(f"{BASE}/{area_id}/ab%0A")
    assert response.json() == {"ab\n": "newline"}
    assert (await api.client.get(f"{BASE}/{area_id}/a%0Ab")).json() == {"a\nb": "inside"}
    binary = await api.client.get(f"{BASE}/binary/{area_id}/a%0Ab")
    assert (binary.status_code, binary.content) == (200, b"inside")
    _assert_not_found(await api.client.get(f"{BASE}/{area_id}/ab%0D%0A"))
    assert await _read_all(api, area_id) == {"ab\n": "newline", "ab": "plain", "a\nb": "inside"}


async def test_unknown_area_is_404_everywhere(api: Api) -> None:
    await _assert_gone(api, str(uuid.uuid4()))


# --- update --------------------------------------------------------------------------------------


async def test_update_adds_and_replaces_keys(api: Api) -> None:
    area_id = await _create(api, data={"a": "1", "b": "2"})
    response = await api.client.post(f"{BASE}/{area_id}/60", data={"b": "3", "c": ""})
    assert response.status_code == 200, response.text
    assert await _read_all(api, area_id) == {"a": "1", "b": "3", "c": ""}


async def test_update_with_json_and_multipart(api: Api) -> None:
    area_id = await _create(api, data={"a": "1"})
    response = await api.client.post(f"{BASE}/{area_id}/60", json={"b": {"x": 1}})
    assert response.status_code == 200, response.text
    response = await api.client.post(
        f"{BASE}/{area_id}/60", data={"c": "3"}, files={"f": ("f.bin", b"\x01\x02", "x/y")}
    )
    assert response.status_code == 200, response.text
    assert await _read_all(api, area_id) == {"a": "1", "b": "{x=1}", "c": "3"}
    binary = await api.client.get(f"{BASE}/binary/{area_id}/f")
    assert (binary.status_code, binary.content, binary.headers["content-type"]) == (
        200,
        b"\x01\x02",
        "x/y",
    )


async def test_update_turns_a_file_into_text_and_back(api: Api) -> None:
    area_id = await _create(api, files={"doc": ("d.txt", b"bytes", "text/csv")})
    assert await _read_all(api, area_id) == {}

    await api.client.post(f"{BASE}/{area_id}/60", data={"doc": "now text"})
    assert await _read_all(api, area_id) == {"doc": "now text"}
    response = await api.client.get(f"{BASE}/{area_id}/doc")
    assert response.json() == {"doc": "now text"}

    await api.client.post(f"{BASE}/{area_id}/60", files={"doc": ("e.bin", b"\x00\x01", "a/b")})
    assert await _read_all(api, area_id) == {}
    response = await api.client.get(f"{BASE}/binary/{area_id}/doc")
    assert (response.content, response.headers["content-type"]) == (b"\x00\x01", "a/b")


async def test_update_restarts_the_ttl_with_the_new_ttl(api: Api) -> None:
    area_id = await _create(api, ttl=100, data={"a": "1"})
    await api.advance(50)
    response = await api.client.post(f"{BASE}/{area_id}/20", data={"b": "2"})
    assert response.status_code == 200
    await api.advance(19)
    assert await _read_all(api, area_id) == {"a": "1", "b": "2"}
    await api.advance(2)
    await _assert_gone(api, area_id)


async def test_update_can_extend_the_life_of_an_area(api: Api) -> None:
    area_id = await _create(api, ttl=10, data={"a": "1"})
    await api.advance(8)
    response = await api.client.post(f"{BASE}/{area_id}/100", data={"b": "2"})
    assert response.status_code == 200
    await api.advance(90)
    assert await _read_all(api, area_id) == {"a": "1", "b": "2"}
    await api.advance(11)
    await _assert_gone(api, area_id)


async def test_reads_do_not_extend_the_ttl(api: Api) -> None:
    area_id = await _create(api, ttl=40, data={"a": "1"})
    for _ in range(3):
        await api.advance(12)
        assert await _read_all(api, area_id) == {"a": "1"}
        assert (await api.client.get(f"{BASE}/{area_id}/a")).status_code == 200
    await api.advance(5)  # 41 s after the only write
    await _assert_gone(api, area_id)


# --- delete --------------------------------------------------------------------------------------


async def test_delete_then_404_everywhere(api: Api) -> None:
    area_id = await _create(
        api, data={"a": "1"}, files={"file": ("f.txt", b"content", "text/plain")}
    )
    response = await api.client.delete(f"{BASE}/{area_id}")
    assert response.status_code == 200
    await _assert_gone(api, area_id)


async def test_delete_leaves_other_areas_alone(api: Api) -> None:
    first = await _create(api, data={"a": "1"})
    second = await _create(api, data={"a": "2"})
    assert (await api.client.delete(f"{BASE}/{first}")).status_code == 200
    assert await _read_all(api, second) == {"a": "2"}


# --- ttl -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ttl",
    ["0", "-5", "abc", "1.5", "99999999999", "%C2%B2"],
    ids=["zero", "negative", "text", "fraction", "overflow", "superscript-two"],
)
async def test_invalid_ttl_means_30_seconds(api: Api, ttl: str) -> None:
    area_id = await _create(api, ttl=ttl, data={"a": "1"})
    await api.advance(29)
    assert await _read_all(api, area_id) == {"a": "1"}
    await api.advance(2)
    await _assert_gone(api, area_id)


@pytest.mark.parametrize("ttl", ["0", "-5", "abc"])
async def test_invalid_ttl_on_update_means_30_seconds(api: Api, ttl: str) -> None:
    area_id = await _create(api, ttl=300, data={"a": "1"})
    response = await api.client.post(f"{BASE}/{area_id}/{ttl}", data={"b": "2"})
    assert response.status_code == 200
    await api.advance(29)
    assert await _read_all(api, area_id) == {"a": "1", "b": "2"}
    await api.advance(2)
    await _assert_gone(api, area_id)


async def test_a_valid_ttl_is_honoured(api: Api) -> None:
    area_id = await _create(api, ttl=45, data={"a": "1"})
    await api.advance(44)
    assert await _read_all(api, area_id) == {"a": "1"}
    await api.advance(2)
    await _assert_gone(api, area_id)


async def test_expiry_makes_data_404_for_every_call(api: Api) -> None:
    area_id = await _create(api, ttl=10, data={"a": "1"}, files={"file": ("f.bin", b"\x00", "a/b")})
    await api.advance(11)
    await _assert_gone(api, area_id)
    await _assert_gone(api, area_id, headers={"gms_user": "someone"})


# --- custom ids ----------------------------------------------------------------------------------


async def test_custom_id_needs_the_gms_user_header(api: Api) -> None:
    response = await api.client.post(f"{BASE}/custom/my-area/60", data={"a": "1"})
    body = _assert_error(response, 400, "com.genesyslab.gms.exceptions.BadRequestException")
    assert "gms_user" in body["message"]
    await _assert_gone(api, "my-area")
    await _assert_gone(api, "my-area", headers={"gms_user": "alice"})


async def test_custom_id_is_answered_and_owned(api: Api) -> None:
    alice = {"gms_user": "alice"}
    response = await api.client.post(f"{BASE}/custom/my-area/60", data={"a": "1"}, headers=alice)
    assert response.status_code == 200
    assert response.json() == {"id": "my-area"}
    assert await _read_all(api, "my-area", headers=alice) == {"a": "1"}
    await _assert_gone(api, "my-area")
    assert await _read_all(api, "my-area", headers=alice) == {"a": "1"}


async def test_custom_id_of_another_user_is_409_and_nothing_of_theirs_changes(api: Api) -> None:
    alice = {"gms_user": "alice"}
    response = await api.client.post(
        f"{BASE}/custom/shared/60",
        data={"a": "1"},
        files={"file": ("f.txt", b"alice's", "application/x-alice")},
        headers=alice,
    )
    assert response.status_code == 200
    await api.advance(50)

    response = await api.client.post(
        f"{BASE}/custom/shared/600",
        data={"a": "mallory", "b": "2"},
        files={"file": ("m.txt", b"mallory's", "text/html")},
        headers={"gms_user": "mallory"},
    )
    _assert_error(response, 409, "com.genesyslab.gms.exceptions.ConflictException")

    assert await _read_all(api, "shared", headers=alice) == {"a": "1"}
    binary = await api.client.get(f"{BASE}/binary/shared/file", headers=alice)
    assert (binary.content, binary.headers["content-type"]) == (b"alice's", "application/x-alice")
    # The TTL was not restarted either: alice's area still ends 60 s after her write.
    await api.advance(9)
    assert await _read_all(api, "shared", headers=alice) == {"a": "1"}
    await api.advance(2)
    await _assert_gone(api, "shared", headers=alice)


async def test_custom_id_again_by_the_owner_updates_and_restarts_the_ttl(api: Api) -> None:
    alice = {"gms_user": "alice"}
    first = await api.client.post(
        f"{BASE}/custom/cart/60", data={"a": "1", "b": "2"}, headers=alice
    )
    assert first.status_code == 200
    await api.advance(50)
    again = await api.client.post(
        f"{BASE}/custom/cart/20", data={"b": "3", "c": "4"}, headers=alice
    )
    assert again.status_code == 200
    assert again.json() == {"id": "cart"}
    assert await _read_all(api, "cart", headers=alice) == {"a": "1", "b": "3", "c": "4"}
    await api.advance(19)
    assert await _read_all(api, "cart", headers=alice) == {"a": "1", "b": "3", "c": "4"}
    await api.advance(2)
    await _assert_gone(api, "cart", headers=alice)


async def test_custom_id_updated_by_its_owner_through_the_update_call(api: Api) -> None:
    alice = {"gms_user": "alice"}
    await api.client.post(f"{BASE}/custom/cart/60", data={"a": "1"}, headers=alice)
    response = await api.client.post(f"{BASE}/cart/60", data={"a": "9", "z": "0"}, headers=alice)
    assert response.status_code == 200
    assert await _read_all(api, "cart", headers=alice) == {"a": "9", "z": "0"}
    assert (await api.client.delete(f"{BASE}/cart", headers=alice)).status_code == 200
    await _assert_gone(api, "cart", headers=alice)


async def test_custom_id_is_free_again_once_expired(api: Api) -> None:
    await api.client.post(
        f"{BASE}/custom/slot/10", data={"old": "1"}, headers={"gms_user": "alice"}
    )
    await api.advance(11)
    mallory = {"gms_user": "mallory"}
    response = await api.client.post(f"{BASE}/custom/slot/60", data={"new": "2"}, headers=mallory)
    assert response.status_code == 200
    # Nothing of the expired area leaks into the new one.
    assert await _read_all(api, "slot", headers=mallory) == {"new": "2"}
    await _assert_gone(api, "slot", headers={"gms_user": "alice"})


# --- ownership -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "intruder",
    [{"gms_user": "mallory"}, {}, {"gms_user": "Alice"}, {"gms_user": ""}],
    ids=["other-user", "no-header", "other-case", "empty-header"],
)
async def test_owned_area_is_404_for_any_other_caller(api: Api, intruder: dict[str, str]) -> None:
    alice = {"gms_user": "alice"}
    area_id = await _create(
        api,
        ttl=60,
        data={"a": "1", "b": "2"},
        files={"file": ("f.txt", b"secret", "application/x-secret")},
        headers=alice,
    )
    await api.advance(30)
    await _assert_gone(api, area_id, headers=intruder)
    _assert_not_found(
        await api.client.post(
            f"{BASE}/{area_id}/600",
            files={"file": ("x.txt", b"overwritten", "text/html")},
            headers=intruder,
        )
    )

    assert await _read_all(api, area_id, headers=alice) == {"a": "1", "b": "2"}
    response = await api.client.get(f"{BASE}/{area_id}/a", headers=alice)
    assert response.json() == {"a": "1"}
    binary = await api.client.get(f"{BASE}/binary/{area_id}/file", headers=alice)
    assert (binary.status_code, binary.content, binary.headers["content-type"]) == (
        200,
        b"secret",
        "application/x-secret",
    )
    # The refused writes did not restart the TTL: the area still ends 60 s after its creation.
    await api.advance(31)
    await _assert_gone(api, area_id, headers=alice)


async def test_owner_can_write_and_delete(api: Api) -> None:
    alice = {"gms_user": "alice"}
    area_id = await _create(api, data={"a": "1"}, headers=alice)
    response = await api.client.post(f"{BASE}/{area_id}/60", data={"b": "2"}, headers=alice)
    assert response.status_code == 200
    assert await _read_all(api, area_id, headers=alice) == {"a": "1", "b": "2"}
    assert (await api.client.delete(f"{BASE}/{area_id}", headers=alice)).status_code == 200
    await _assert_gone(api, area_id, headers=alice)


@pytest.mark.parametrize("reader", [{}, {"gms_user": "bob"}], ids=["no-header", "any-user"])
async def test_area_without_owner_is_readable_by_anyone(api: Api, reader: dict[str, str]) -> None:
    area_id = await _create(
        api, data={"a": "1"}, files={"file": ("f.txt", b"public", "text/plain")}
    )
    assert await _read_all(api, area_id, headers=reader) == {"a": "1"}
    response = await api.client.get(f"{BASE}/{area_id}/a", headers=reader)
    assert response.json() == {"a": "1"}
    binary = await api.client.get(f"{BASE}/binary/{area_id}/file", headers=reader)
    assert (binary.status_code, binary.content) == (200, b"public")
