"""Bad input gets a clear error and changes nothing (SPEC section 2), on every backend.

What "nothing changed" means is checked through the API itself: an area keeps its keys and its
TTL (a refused write must not restart it), a custom storage id stays free, and a pool of access
numbers keeps all its numbers free (a refused service creation reserved none).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.api.conftest import Api

LIMIT = 65536  # TEST_CONFIG [server] max_body_size
MAX_KEY = 256  # TEST_CONFIG [server] max_key_length
GMS = "com.genesyslab.gms.exceptions."
TOO_LARGE = f"the request body is larger than the limit of {LIMIT} bytes"
JSON = {"content-type": "application/json"}
ALICE = {"gms_user": "alice"}

UNICODE_DATA = {
    "emoji 😀👍🏽": "👨‍👩‍👧‍👦 family 🇫🇷",
    "עברית": "שלום עולם",
    "العربية": "مرحبا بالعالم 123",
    "combining e\u0301\u0308": "a\u0300\u0301\u0302 Z\u0335\u0321",
    "zero\u200bwidth\u200d": "\ufeffBOM inside",
    "中文キー": "値 값",
    "empty": "",
    "spaces ": "  ",
    "newlines": "a\r\nb\nc\r",
    "symbols &=+%;#?": "&=+%;#?/\\\"'",
    "\U0001d518\U0001d52b\U0001d526": "astral \U00010348",
}


def _assert_error(response: httpx.Response, status: int, exception: str) -> str:
    """The GMS error body: JSON with exactly `message` and `exception`, and no internals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"message", "exception"}
    assert body["exception"] == GMS + exception
    text = response.text
    for leak in ("Traceback", 'File "', ".py", "/work/", "site-packages", "line "):
        if leak == "line " and exception == "JsonParseException":
            continue  # the JSON parser's own detail names a line and column of the body
        assert leak not in text, text
    message: str = body["message"]
    assert message
    return message


async def _service(api: Api, data: dict[str, str] | None = None) -> str:
    response = await api.client.post("/genesys/1/service/store", data=data or {})
    assert response.status_code == 200, response.text
    service_id: str = response.json()["_id"]
    return service_id


async def _area(api: Api, data: dict[str, str] | None = None) -> str:
    response = await api.client.post("/genesys/1/storage/60", data=data or {})
    assert response.status_code == 200, response.text
    area_id: str = response.json()["id"]
    return area_id


async def _pool_is_untouched(api: Api) -> None:
    """`ri-nocode` holds one of two numbers per service: both must still be free."""
    numbers = set()
    for _ in range(2):
        response = await api.client.post("/genesys/1/service/ri-nocode", data={})
        assert response.status_code == 200, response.text
        numbers.add(response.json()["_access_number"])
    assert numbers == {"5550001", "5550002"}
    full = await api.client.post("/genesys/1/service/ri-nocode", data={})
    assert full.status_code == 503


class Writes:
    """Every writing call of the API, prepared on one app, and the check that a refused request
    changed nothing: keys, TTL (a refused write must not restart it), ids and access numbers."""

    CALLS = (
        "service-create",
        "service-storage",
        "service-update",
        "storage-create",
        "storage-update",
        "custom-create",
    )

    def __init__(self, api: Api) -> None:
        self.api = api
        self.ids: dict[str, str] = {}
        self.sent: list[httpx.Request] = []

    async def prepare(self) -> None:
        self.ids["service-storage"] = await _service(self.api, {"kept": "yes"})
        self.ids["service-update"] = await _service(self.api, {"kept": "yes"})
        self.ids["storage-update"] = await _area(self.api, {"kept": "yes"})
        self.ids["custom-create"] = "custom-area"
        await self.api.advance(50)  # everything above lives 60 s

    def _path(self, call: str) -> str:
        ids = self.ids
        return {
            "service-create": "/genesys/1/service/ri-nocode",
            "service-storage": f"/genesys/1/service/{ids.get('service-storage')}/storage",
            "service-update": f"/genesys/1/service/{ids.get('service-update')}/update",
            "storage-create": "/genesys/1/storage/60",
            "storage-update": f"/genesys/1/storage/{ids.get('storage-update')}/600",
            "custom-create": f"/genesys/1/storage/custom/{ids.get('custom-create')}/60",
        }[call]

    async def refused(
        self,
        requests: Callable[[], dict[str, Any]] | dict[str, Callable[[], dict[str, Any]]],
        status: int,
        exception: str,
    ) -> list[str]:
        """Send each request (a function giving fresh httpx arguments; a dict of them by name)
        to every writing call; each must answer this error. Returns the messages."""
        if callable(requests):
            requests = {"request": requests}
        messages = []
        for name, request in requests.items():
            for call in self.CALLS:
                kwargs = request()
                headers = {**kwargs.pop("headers", {}), **ALICE}
                response = await self.api.client.post(self._path(call), headers=headers, **kwargs)
                self.sent.append(response.request)
                try:
                    messages.append(_assert_error(response, status, exception))
                except AssertionError as exc:
                    raise AssertionError(f"{name} sent to {call}: {exc}") from exc
        await self._assert_unchanged()
        return messages

    async def _assert_unchanged(self) -> None:
        client = self.api.client
        custom = await client.get(f"/genesys/1/storage/{self.ids['custom-create']}", headers=ALICE)
        assert custom.status_code == 404, "custom-create created the area"
        paths = {
            "service-storage": f"/genesys/1/service/{self.ids['service-storage']}/storage",
            "service-update": f"/genesys/1/service/{self.ids['service-update']}/storage",
            "storage-update": f"/genesys/1/storage/{self.ids['storage-update']}",
        }
        for call, path in paths.items():
            assert (await client.get(path)).json() == {"kept": "yes"}, call
        await self.api.advance(11)
        for call, path in paths.items():
            assert (await client.get(path)).status_code == 404, f"{call} restarted the TTL"
        await _pool_is_untouched(self.api)
        # storage-create: a refused creation returns no id; there is nothing else to look at.


@pytest.fixture
async def writes(api: Api) -> Writes:
    prepared = Writes(api)
    await prepared.prepare()
    return prepared


# --- body size -----------------------------------------------------------------------------------


async def test_body_over_the_limit_is_413_and_changes_nothing(writes: Writes) -> None:
    body = b"kept=no&big=" + b"x" * LIMIT
    messages = await writes.refused(lambda: {"content": body}, 413, "PayloadTooLargeException")
    assert messages == [TOO_LARGE] * len(Writes.CALLS)


async def test_streamed_body_over_the_limit_without_content_length_is_413(
    writes: Writes,
) -> None:
    def streamed() -> dict[str, Any]:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"kept=no&big="
            for _ in range(20):  # 20 x 8 KiB: more than twice the limit
                yield b"y" * 8192

        return {"content": chunks()}

    messages = await writes.refused(streamed, 413, "PayloadTooLargeException")
    assert messages == [TOO_LARGE] * len(Writes.CALLS)
    for request in writes.sent:
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"


async def test_multipart_over_the_limit_is_413(writes: Writes) -> None:
    messages = await writes.refused(
        lambda: {"data": {"kept": "no"}, "files": {"f": ("big.bin", b"\x00" * LIMIT, "a/b")}},
        413,
        "PayloadTooLargeException",
    )
    assert messages == [TOO_LARGE] * len(Writes.CALLS)


async def test_a_body_of_exactly_the_limit_is_accepted(api: Api) -> None:
    value = "z" * (LIMIT - len("big="))
    response = await api.client.post("/genesys/1/storage/60", content=f"big={value}".encode())
    assert response.status_code == 200, response.text
    area_id = response.json()["id"]
    stored = await api.client.get(f"/genesys/1/storage/{area_id}/big")
    assert stored.json() == {"big": value}


async def test_a_streamed_body_under_the_limit_is_accepted(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a=1&"
        yield b"b=" + "é".encode() * 100
        yield b"&c=3"

    response = await api.client.post("/genesys/1/storage/60", content=chunks())
    assert response.status_code == 200, response.text
    stored = await api.client.get(f"/genesys/1/storage/{response.json()['id']}")
    assert stored.json() == {"a": "1", "b": "é" * 100, "c": "3"}


# --- malformed bodies ----------------------------------------------------------------------------

MULTIPART = "multipart/form-data; boundary=abc"
MALFORMED_MULTIPART = {
    "no-boundary": ("multipart/form-data", b"--abc\r\n\r\nv\r\n--abc--\r\n"),
    "wrong-boundary": (MULTIPART, b"xx not multipart at all"),
    "no-name": (MULTIPART, b"--abc\r\nContent-Disposition: form-data\r\n\r\nv\r\n--abc--\r\n"),
    "no-disposition": (MULTIPART, b"--abc\r\nX-Other: y\r\n\r\nv\r\n--abc--\r\n"),
    "bad-header-line": (
        MULTIPART,
        b'--abc\r\nContent-Disposition: form-data; name="k"\rjunk\r\n\r\nv\r\n--abc--\r\n',
    ),
    # python-multipart hands over what it got of a body cut short; it must be refused whole.
    "cut-in-a-part": (
        MULTIPART,
        b'--abc\r\nContent-Disposition: form-data; name="kept"\r\n\r\nno\r\n--abc\r\n'
        b'Content-Disposition: form-data; name="b"\r\n\r\ntruncat',
    ),
    "no-close-delimiter": (
        MULTIPART,
        b'--abc\r\nContent-Disposition: form-data; name="kept"\r\n\r\nno\r\n',
    ),
    "cut-in-headers": (MULTIPART, b"--abc\r\nContent-Disposition: form-da"),
}


def _raw(body: bytes, content_type: str) -> Callable[[], dict[str, Any]]:
    return lambda: {"content": body, "headers": {"content-type": content_type}}


async def test_malformed_multipart_is_400_and_changes_nothing(writes: Writes) -> None:
    requests = {name: _raw(body, kind) for name, (kind, body) in MALFORMED_MULTIPART.items()}
    messages = await writes.refused(requests, 400, "BadRequestException")
    for message in messages:
        assert message.startswith("the multipart body could not be read: "), message


async def test_a_complete_multipart_body_with_an_epilogue_is_accepted(api: Api) -> None:
    body = b'\r\n--abc\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--abc--\r\nepilogue'
    response = await api.client.post(
        "/genesys/1/storage/60", content=body, headers={"content-type": MULTIPART}
    )
    assert response.status_code == 200, response.text
    stored = await api.client.get(f"/genesys/1/storage/{response.json()['id']}")
    assert stored.json() == {"a": "1"}


async def test_urlencoded_invalid_utf8_is_400_and_changes_nothing(writes: Writes) -> None:
    form = "application/x-www-form-urlencoded"
    bodies = [b"kept=%ff", b"kept=no&%c3%28=1", b"kept=\xff\xfe"]
    requests = {repr(body): _raw(body, form) for body in bodies}
    messages = await writes.refused(requests, 400, "BadRequestException")
    for message in messages:
        assert message.startswith("the urlencoded body could not be read: "), message


MALFORMED_JSON = [b"{", b'{"kept": "no",}', b"{'kept': 'no'}", b'{"kept": no}', b'{"kept": "no"} x']


async def test_malformed_json_is_500_could_not_read_json(writes: Writes) -> None:
    requests = {repr(body): _raw(body, "application/json") for body in MALFORMED_JSON}
    messages = await writes.refused(requests, 500, "JsonParseException")
    for message in messages:
        assert message.startswith("Could not read JSON: "), message
        assert len(message) > len("Could not read JSON: ")


async def test_json_that_is_not_an_object_is_400(writes: Writes) -> None:
    bodies = [b'["kept", "no"]', b'"kept"', b"42", b"null", b"true"]
    requests = {repr(body): _raw(body, "application/json") for body in bodies}
    messages = await writes.refused(requests, 400, "BadRequestException")
    assert set(messages) == {"the JSON body must be an object of keys and values"}
    assert len(messages) == len(bodies) * len(Writes.CALLS)


# --- keys and values -----------------------------------------------------------------------------


def _multipart_fields(data: dict[str, str]) -> list[tuple[str, tuple[None, bytes]]]:
    """Plain (non-file) multipart fields: no filename, so they are text values."""
    return [(key, (None, value.encode())) for key, value in data.items()]


ENCODINGS = ["urlencoded", "multipart", "json"]
LIMIT_CHARS = {"ascii": "k", "emoji": "😀", "mark": "\u0301", "rtl": "ש"}


def _raw_multipart(data: dict[str, str]) -> dict[str, Any]:
    """Multipart built by hand, names unescaped (httpx would send a NUL in a name as %00), with
    a valid file part alongside: the file must not be kept either."""
    parts = [
        b'--abc\r\nContent-Disposition: form-data; name="'
        + key.encode()
        + b'"\r\n\r\n'
        + value.encode()
        + b"\r\n"
        for key, value in data.items()
    ]
    parts.append(
        b'--abc\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n'
        b"Content-Type: a/b\r\n\r\n\x00bytes may hold NUL\r\n"
    )
    return {"content": b"".join(parts) + b"--abc--\r\n", "headers": {"content-type": MULTIPART}}


def _body(encoding: str, data: dict[str, str]) -> dict[str, Any]:
    if encoding == "urlencoded":
        return {"data": data}
    if encoding == "multipart":
        return {"files": _multipart_fields(data)}
    return {"json": data}


def _path_key(key: str) -> str:
    return quote(key, safe="")


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_any_unicode_is_stored_and_returned_exactly(api: Api, encoding: str) -> None:
    data = UNICODE_DATA
    response = await api.client.post("/genesys/1/storage/60", **_body(encoding, data))
    assert response.status_code == 200, response.text
    area_id = response.json()["id"]
    assert (await api.client.get(f"/genesys/1/storage/{area_id}")).json() == data
    for key, value in data.items():
        one = await api.client.get(f"/genesys/1/storage/{area_id}/{_path_key(key)}")
        assert one.status_code == 200, (key, one.text)
        assert one.json() == {key: value}

    service_id = await _service(api)
    response = await api.client.post(
        f"/genesys/1/service/{service_id}/storage", **_body(encoding, data)
    )
    assert response.status_code == 200, response.text
    stored = await api.client.get(f"/genesys/1/service/{service_id}/storage")
    assert stored.json() == data
    for key, value in data.items():
        one = await api.client.get(f"/genesys/1/service/{service_id}/storage/{_path_key(key)}")
        assert one.json() == {key: value}, key


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_unicode_on_service_creation_is_its_storage(api: Api, encoding: str) -> None:
    response = await api.client.post("/genesys/1/service/store", **_body(encoding, UNICODE_DATA))
    assert response.status_code == 200, response.text
    service_id = response.json()["_id"]
    stored = await api.client.get(f"/genesys/1/service/{service_id}/storage")
    assert stored.json() == UNICODE_DATA


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_keys_at_the_length_limit_are_stored(api: Api, encoding: str) -> None:
    # ASCII, an emoji (outside the BMP), a combining mark, a right-to-left letter.
    data = {char * MAX_KEY: f"{name} at the limit" for name, char in LIMIT_CHARS.items()}
    data["short"] = ""
    assert {len(key) for key in data} == {MAX_KEY, len("short")}
    response = await api.client.post("/genesys/1/storage/60", **_body(encoding, data))
    assert response.status_code == 200, response.text
    area_id = response.json()["id"]
    assert (await api.client.get(f"/genesys/1/storage/{area_id}")).json() == data
    for key, value in data.items():
        one = await api.client.get(f"/genesys/1/storage/{area_id}/{_path_key(key)}")
        assert one.json() == {key: value}


BAD_DATA = {
    "key-over-limit": {"kept": "no", "k" * (MAX_KEY + 1): "v"},
    "emoji-key-over-limit": {"kept": "no", "😀" * (MAX_KEY + 1): "v"},
    "nul-in-key": {"kept": "no", "a\x00b": "v"},
    "nul-in-value": {"kept": "no", "a": "v\x00w"},
    "empty-key": {"kept": "no", "": "v"},
}


@pytest.mark.parametrize("case", list(BAD_DATA))
async def test_bad_keys_and_values_are_400_and_nothing_is_stored(writes: Writes, case: str) -> None:
    data = BAD_DATA[case]
    requests = {
        "urlencoded": lambda: _body("urlencoded", data),
        "json": lambda: _body("json", data),
        "multipart": lambda: _raw_multipart(data),
    }
    await writes.refused(requests, 400, "BadRequestException")


async def test_nul_bytes_in_a_file_are_fine(api: Api) -> None:
    response = await api.client.post(
        "/genesys/1/storage/60", files={"f": ("f.bin", b"\x00\x00\xff\x00", "a/b")}
    )
    assert response.status_code == 200
    binary = await api.client.get(f"/genesys/1/storage/binary/{response.json()['id']}/f")
    assert binary.content == b"\x00\x00\xff\x00"


async def test_too_many_keys_is_400_and_nothing_is_stored(writes: Writes) -> None:
    # TEST_CONFIG leaves max_keys at its default of 1000.
    data = {f"k{i}": "" for i in range(1001)}
    messages = await writes.refused(lambda: {"data": data}, 400, "BadRequestException")
    assert messages == ["too many keys: 1001 (the limit is 1000)"] * len(Writes.CALLS)


# --- numbers in parameters ----------------------------------------------------------------------


async def test_an_overwritable_ttl_in_non_ascii_digits_falls_back_to_the_configured_one(
    api: Api,
) -> None:
    response = await api.client.post("/genesys/1/service/flexible", data={"a": "1", "_ttl": "²"})
    assert response.status_code == 200, response.text
    service_id = response.json()["_id"]
    await api.advance(59)
    assert (await api.client.get(f"/genesys/1/service/{service_id}/storage")).status_code == 200
    await api.advance(2)
    assert (await api.client.get(f"/genesys/1/service/{service_id}/storage")).status_code == 404


async def test_an_access_code_length_in_non_ascii_digits_is_400(api: Api) -> None:
    response = await api.client.post(
        "/genesys/1/service/request-interaction", data={"_access_code_length": "²"}
    )
    message = _assert_error(response, 400, "BadRequestException")
    assert message == "_access_code_length must be a whole number from 1 to 18"


# --- errors never show internals -----------------------------------------------------------------


async def test_unknown_routes_and_methods_answer_gms_errors(api: Api) -> None:
    missing = await api.client.get("/genesys/1/nothing/here")
    _assert_error(missing, 404, "NotFoundException")
    wrong_method = await api.client.put("/genesys/1/storage/abc")
    assert _assert_error(wrong_method, 405, "MethodNotAllowedException") == (
        "method PUT is not allowed on /genesys/1/storage/abc"
    )
    unknown = await api.client.post("/genesys/1/service/no-such-service", data={"a": "1"})
    assert _assert_error(unknown, 404, "NotFoundException") == (
        "service 'no-such-service' is not configured"
    )


# Odd paths and methods, answered as Starlette's own linear route search answered them before the
# route index (cxgate.http.routing) existed: (method, path, status, Allow, Location).
ODD_REQUESTS = [
    ("GET", "/genesys/1/node%0A", 200, None, None),  # a route regex's `$` matches before "\n"
    ("GET", "/genesys/1/storage/abc/", 404, None, None),  # the key "" of area abc
    ("GET", "/genesys/1/storage/", 404, None, None),
    ("GET", "/genesys/1/storage", 404, None, None),
    ("POST", "/genesys/1/storage/30/", 405, "GET, HEAD", None),
    ("DELETE", "/genesys/1/service/x/storage/a/b", 404, None, None),
    ("GET", "/genesys/1/service/x/storage/binary/", 404, None, None),
    ("PATCH", "/genesys/1/service/x", 405, "DELETE, POST", None),
    ("GET", "/genesys/1/service/x", 405, "DELETE, POST", None),
    ("OPTIONS", "/genesys/1/storage/abc", 405, "DELETE, GET, HEAD, POST", None),
    ("BREW", "/genesys/1/node", 405, "GET, HEAD", None),
    ("HEAD", "/genesys/1/storage/abc", 404, None, None),
    ("GET", "/metrics/", 307, None, "http://cxgate/metrics"),
    ("GET", "/console", 307, None, "/console/"),
]


async def test_odd_paths_and_methods_route_as_before(api: Api) -> None:
    for method, path, status, allow, location in ODD_REQUESTS:
        response = await api.client.request(method, path)
        assert (response.status_code, response.headers.get("allow")) == (status, allow), path
        assert response.headers.get("location") == location, path
        if status in (404, 405) and method != "HEAD":
            assert response.json()["exception"].startswith(GMS), path
