"""Request bodies -> flat key/values (cxgate.http.bodies): Java texts, urlencoded, JSON."""

from __future__ import annotations

import math
import re
import struct
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cxgate.errors import BadRequest, MalformedBody, MalformedJson
from cxgate.http.bodies import java_double, java_text, parse_json_object, parse_urlencoded

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
