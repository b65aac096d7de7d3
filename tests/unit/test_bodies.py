"""Request bodies -> flat key/values (cxgate.http.bodies): Java texts, urlencoded, JSON; and
reading a body in time."""

from __future__ import annotations

import asyncio
import math
import re
import struct
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.types import Message

from cxgate.errors import BadRequest, BodyTimeout, MalformedBody, MalformedJson, PayloadTooLarge
from cxgate.http.bodies import (
    java_double,
    java_text,
    parse_json_object,
    parse_urlencoded,
    read_limited,
)

Headers = Sequence[tuple[bytes, bytes]]

# Java's Double.toString layouts: plain in [1e-3, 1e7), else computerized scientific notation.
# Both keep at least one digit after the point and no other trailing zero.
PLAIN = re.compile(r"-?(0|[1-9][0-9]*)\.([0-9]*[1-9]|0)")
SCIENTIFIC = re.compile(r"-?[1-9]\.([0-9]*[1-9]|0)E-?[1-9][0-9]*")

finite = st.floats(allow_nan=False, allow_infinity=False)
# Any Unicode text a client can send: no lone surrogates (they are not UTF-8).
text = st.text(st.characters(exclude_categories=["Cs"]))

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), finite, text)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


# --- java_double ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (-1.5, "-1.5"),
        (100.0, "100.0"),
        (0.1, "0.1"),
        (0.001, "0.001"),
        (0.00099, "9.9E-4"),
        (1234567.0, "1234567.0"),
        (9999999.999, "9999999.999"),
        (1e7, "1.0E7"),
        (12345678.0, "1.2345678E7"),
        (123456789.0, "1.23456789E8"),
        (1e20, "1.0E20"),
        (1.5e-5, "1.5E-5"),
        (-2.5e-10, "-2.5E-10"),
        (1.7976931348623157e308, "1.7976931348623157E308"),
        (1e-300, "1.0E-300"),
        (2.2250738585072014e-308, "2.2250738585072014E-308"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
    ],
)
def test_java_double_examples(value: float, expected: str) -> None:
    assert java_double(value) == expected


@given(finite)
@example(1e-3)
@example(1e7)
@example(math.nextafter(1e7, 0))
@example(math.nextafter(1e-3, 0))
@example(2.0**-1074)
def test_java_double_reads_back_as_the_same_double(value: float) -> None:
    rendered = java_double(value)
    back = float(rendered.replace("E", "e"))
    assert back == value
    assert math.copysign(1.0, back) == math.copysign(1.0, value)


@given(finite)
def test_java_double_layout_depends_on_magnitude(value: float) -> None:
    rendered = java_double(value)
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        assert PLAIN.fullmatch(rendered), rendered
    else:
        assert SCIENTIFIC.fullmatch(rendered), rendered
        mantissa, _ = rendered.split("E")
        assert 1 <= abs(float(mantissa)) < 10


@given(finite)
def test_java_double_has_no_more_digits_than_needed(value: float) -> None:
    """Java (JDK 19+) and Python repr both keep the fewest significant digits that read back as
    the same double; Java shows at least two (`1.0`)."""
    rendered = java_double(value)
    significant = re.sub(r"E.*|[-.]", "", rendered).strip("0") or "0"
    shortest = repr(abs(value)).split("e")[0].replace(".", "").strip("0") or "0"
    assert len(significant) <= max(2, len(shortest))


@pytest.mark.parametrize(
    ("value", "expected"), [(5e-324, "4.9E-324"), (1e-323, "9.9E-324")], ids=["min", "2min"]
)
def test_java_double_of_the_smallest_subnormals(value: float, expected: str) -> None:
    assert java_double(value) == expected


@given(st.integers(0, 2**64 - 1))
def test_java_double_of_any_bit_pattern(bits: int) -> None:
    (value,) = struct.unpack("<d", bits.to_bytes(8, "little"))
    rendered = java_double(value)
    if math.isnan(value):
        assert rendered == "NaN"
    elif math.isinf(value):
        assert rendered == ("Infinity" if value > 0 else "-Infinity")
    else:
        assert float(rendered.replace("E", "e")) == value


# --- java_text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("", ""),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (0, "0"),
        (-42, "-42"),
        (2**63 - 1, "9223372036854775807"),
        (2.5, "2.5"),
        (1e20, "1.0E20"),
        ([], "[]"),
        ({}, "{}"),
        ({"a": 1, "b": ["x", "y"]}, "{a=1, b=[x, y]}"),
        ({"street": "mystreet", "city": "mycity"}, "{street=mystreet, city=mycity}"),
        (["9002@SIP_Switch", 5555666], "[9002@SIP_Switch, 5555666]"),
        ([[1, 2], {"k": None}], "[[1, 2], {k=null}]"),
        ({"n": {"m": {"o": [True, 1.0]}}}, "{n={m={o=[true, 1.0]}}}"),
    ],
)
def test_java_text_examples(value: Any, expected: str) -> None:
    assert java_text(value) == expected


def test_java_text_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        java_text(b"bytes")


@given(text)
def test_java_text_of_a_string_is_the_string(value: str) -> None:
    assert java_text(value) == value


@given(st.integers())
def test_java_text_of_an_integer_is_its_decimal_digits(value: int) -> None:
    assert java_text(value) == str(value)


@given(st.lists(text, max_size=6))
def test_java_text_of_a_list_of_strings(items: list[str]) -> None:
    assert java_text(items) == "[" + ", ".join(items) + "]"


@given(st.dictionaries(text, st.integers(), max_size=6))
def test_java_text_of_a_map_keeps_its_order(mapping: dict[str, int]) -> None:
    assert java_text(mapping) == "{" + ", ".join(f"{k}={v}" for k, v in mapping.items()) + "}"


@given(json_value)
def test_java_text_nests_the_texts_of_its_parts(value: Any) -> None:
    rendered = java_text(value)
    if isinstance(value, list):
        assert rendered == "[" + ", ".join(java_text(item) for item in value) + "]"
    elif isinstance(value, dict):
        parts = (f"{key}={java_text(item)}" for key, item in value.items())
        assert rendered == "{" + ", ".join(parts) + "}"
    elif isinstance(value, float):
        assert rendered == java_double(value)
    else:
        assert isinstance(rendered, str)


# --- urlencoded ----------------------------------------------------------------------------------


@given(st.dictionaries(text, text, max_size=8))
@example({"": ""})
@example({"a b": "c+d", "&=": "%25", "é": "😀"})
def test_parse_urlencoded_reads_back_what_urlencode_wrote(data: dict[str, str]) -> None:
    assert parse_urlencoded(urlencode(data).encode()) == data


@given(st.lists(st.tuples(text, text), min_size=1, max_size=6))
def test_parse_urlencoded_keeps_the_last_of_a_repeated_key(pairs: list[tuple[str, str]]) -> None:
    body = urlencode(pairs) + "&" + urlencode([(pairs[0][0], "last")])
    parsed = parse_urlencoded(body.encode())
    assert parsed[pairs[0][0]] == "last"
    assert parsed == dict([*pairs, (pairs[0][0], "last")])


@pytest.mark.parametrize("body", [b"", b"   ", b"\r\n"])
def test_parse_urlencoded_empty_body(body: bytes) -> None:
    assert parse_urlencoded(body) == {}


def test_parse_urlencoded_plus_and_percent() -> None:
    assert parse_urlencoded(b"a+b=c%2Bd&e=&f=%E2%82%AC") == {"a b": "c+d", "e": "", "f": "€"}


@pytest.mark.parametrize("body", [b"a=%ff", b"%c3%28=1", b"a=\xff", b"a=%ed%a0%80"])
def test_parse_urlencoded_refuses_invalid_utf8(body: bytes) -> None:
    with pytest.raises(MalformedBody) as info:
        parse_urlencoded(body)
    assert info.value.message.startswith("the urlencoded body could not be read: ")


@given(st.text(st.sampled_from("ab=&+%2fFé;\n x0"), max_size=24) | text)
@example("a=b=c&&=&b&%zz=%&%e2%82")
@example("\xa0")  # Unicode whitespace is a key, as parse_qsl reads it
def test_parse_urlencoded_reads_as_parse_qsl(body: str) -> None:
    """The hand-written parser gives what `parse_qsl(keep_blank_values=True, errors="strict")`
    gave (it replaced it for speed), or refuses what made it raise."""
    try:
        expected: dict[str, str] | None = dict(
            parse_qsl(body, keep_blank_values=True, errors="strict")
        )
    except ValueError:
        expected = None
    if not body.encode().strip():  # only ASCII whitespace makes an empty body (bytes.strip)
        expected = {}
    if expected is None:
        with pytest.raises(MalformedBody):
            parse_urlencoded(body.encode())
    else:
        assert parse_urlencoded(body.encode()) == expected


# --- reading the body ----------------------------------------------------------------------------


def body_request(
    messages: list[Message | float], *, timeout: float = 0.5, headers: Headers = ()
) -> Request:
    """A request whose receive() hands out `messages` in turn; a number there is a pause, in
    seconds, before the next one. Past the last message, receive() waits forever."""
    pending = list(messages)

    async def receive() -> Message:
        while pending and not isinstance(pending[0], dict):
            await asyncio.sleep(pending.pop(0))  # type: ignore[arg-type]
        if not pending:
            await asyncio.Event().wait()
        message = pending.pop(0)
        assert isinstance(message, dict)
        return message

    app = SimpleNamespace(state=SimpleNamespace(body_timeout=timeout))
    return Request({"type": "http", "headers": list(headers), "app": app}, receive)


def chunk(body: bytes, more: bool = False) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_a_body_already_there_is_read_without_a_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_timer(when: float | None) -> Any:
        raise AssertionError("a timer was set for a body that had arrived")

    monkeypatch.setattr(asyncio, "timeout_at", no_timer)
    assert await read_limited(body_request([chunk(b"a=1")]), 100) == b"a=1"
    assert await read_limited(body_request([chunk(b"a=", True), chunk(b"1")]), 100) == b"a=1"
    assert await read_limited(body_request([{"type": "http.request"}]), 100) == b""


async def test_a_body_arriving_in_parts_in_time_is_whole() -> None:
    request = body_request([chunk(b"a", True), 0.05, chunk(b"b", True), 0.05, chunk(b"c")])
    assert await read_limited(request, 100) == b"abc"


async def test_a_body_trickling_past_the_deadline_is_408() -> None:
    request = body_request([chunk(b"a", True), 0.1, chunk(b"b", True), 0.1, chunk(b"c")])
    started = asyncio.get_running_loop().time()
    with pytest.raises(BodyTimeout) as info:
        await read_limited(request, 100, within=0.15)
    assert 0.14 <= asyncio.get_running_loop().time() - started < 0.5
    assert "did not arrive within 0.15 s" in info.value.message
    with pytest.raises(BodyTimeout):
        await read_limited(body_request([], timeout=0.05), 100)  # nothing after the headers


async def test_a_disconnect_or_too_much_is_refused() -> None:
    disconnect: Message = {"type": "http.disconnect"}
    with pytest.raises(MalformedBody):
        await read_limited(body_request([chunk(b"a", True), 0.01, disconnect]), 100)
    with pytest.raises(PayloadTooLarge):
        await read_limited(body_request([chunk(b"a" * 60, True), chunk(b"a" * 60)]), 100)
    declared = [(b"content-length", b"101")]
    with pytest.raises(PayloadTooLarge):
        await read_limited(body_request([chunk(b"a")], headers=declared), 100)


async def test_cancelling_a_read_is_not_a_timeout() -> None:
    read = asyncio.create_task(read_limited(body_request([chunk(b"a", True)]), 100))
    await asyncio.sleep(0.01)
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read


# --- JSON ----------------------------------------------------------------------------------------


@given(st.dictionaries(text, json_value, max_size=6))
def test_parse_json_object_flattens_every_value_to_its_java_text(document: dict[str, Any]) -> None:
    parsed = parse_json_object(orjson.dumps(document))
    assert list(parsed) == list(document)
    for key, value in document.items():
        assert parsed[key] == java_text(value)
        assert isinstance(parsed[key], str)


@given(st.dictionaries(text, text, max_size=8))
def test_parse_json_object_of_strings_is_identity(document: dict[str, str]) -> None:
    assert parse_json_object(orjson.dumps(document)) == document


def test_parse_json_object_example_from_the_spec() -> None:
    body = (
        b'{"firstName": "John", "address": {"street": "mystreet", "city": "mycity"},'
        b' "phones": ["9002@SIP_Switch", 5555666], "vip": true, "score": 7.25, "age": 42,'
        b' "none": null}'
    )
    assert parse_json_object(body) == {
        "firstName": "John",
        "address": "{street=mystreet, city=mycity}",
        "phones": "[9002@SIP_Switch, 5555666]",
        "vip": "true",
        "score": "7.25",
        "age": "42",
        "none": "null",
    }


def test_parse_json_object_keeps_the_last_of_a_repeated_key() -> None:
    assert parse_json_object(b'{"a": "1", "a": "2"}') == {"a": "2"}


@pytest.mark.parametrize("body", [b"", b"  \n"])
def test_parse_json_object_empty_body(body: bytes) -> None:
    assert parse_json_object(body) == {}


@pytest.mark.parametrize("body", [b"{", b'{"a": }', b"{'a': 1}", b'{"a": 1} x', b"\xff"])
def test_parse_json_object_malformed(body: bytes) -> None:
    with pytest.raises(MalformedJson) as info:
        parse_json_object(body)
    assert info.value.message.startswith("Could not read JSON: ")


@given(json_value.filter(lambda value: not isinstance(value, dict)))
def test_parse_json_object_refuses_anything_but_an_object(value: Any) -> None:
    with pytest.raises(BadRequest) as info:
        parse_json_object(orjson.dumps(value))
    assert not isinstance(info.value, MalformedJson)
    assert info.value.message == "the JSON body must be an object of keys and values"


def test_parse_json_object_keeps_the_digits_of_a_big_integer() -> None:
    body = b'{"n": 123456789012345678901234567890}'
    assert parse_json_object(body) == {"n": "123456789012345678901234567890"}
