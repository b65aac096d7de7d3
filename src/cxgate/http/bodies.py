"""Request bodies -> flat key/values, whatever the encoding (urlencoded, multipart, JSON).

GMS stores data as flat key/value pairs. JSON bodies are flattened the way GMS (a Java server)
did it: nested values become their Java `toString()` text. A key sent twice keeps its last value.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from cxgate.backends.base import Binary, Value
from cxgate.errors import BadRequest, BodyTimeout, MalformedBody, MalformedJson, PayloadTooLarge
from cxgate.http.receive import receive_by

DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_MAX_DEPTH = 32


async def read_limited(request: Request, limit: int, *, within: float | None = None) -> bytes:
    """The whole body, refusing (413) before storing anything once it passes `limit` bytes.

    The body must arrive `within` seconds (default: the app's `body_timeout`), so that a
    client trickling one byte a second cannot hold a connection and its memory forever (408)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")
    timeout = within
    if timeout is None:
        timeout = getattr(request.app.state, "body_timeout", DEFAULT_BODY_TIMEOUT)
    deadline = asyncio.get_running_loop().time() + timeout
    chunks = []
    size = 0
    more = True
    while more:
        try:
            message = await receive_by(request.receive, deadline)
        except TimeoutError as exc:
            raise BodyTimeout(f"the request body did not arrive within {timeout:g} s") from exc
        if message["type"] == "http.disconnect":
            raise MalformedBody("the client closed the connection before sending the whole body")
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def check_depth(document: Any, max_depth: int) -> None:
    """Refuse JSON nested deeper than `max_depth` (400) before anything recurses into it."""
    level = [document]
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            raise BadRequest(f"the JSON body is nested deeper than {max_depth} levels")
        children: list[Any] = []
        for node in level:
            if isinstance(node, dict):
                children.extend(node.values())
            elif isinstance(node, list):
                children.extend(node)
        level = children


async def parse_fields(request: Request, *, limit: int) -> dict[str, Value]:
    """The body's fields, whichever encoding the Content-Type names (urlencoded by default)."""
    body = await read_limited(request, limit)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _multipart(request.headers, body, limit)
    if content_type == "application/json" or content_type.endswith("+json"):
        max_depth = getattr(request.app.state, "max_json_depth", DEFAULT_MAX_DEPTH)
        return parse_json_object(body, max_depth=max_depth)
    return parse_urlencoded(body)


def parse_urlencoded(body: bytes) -> dict[str, Value]:
    """`parse_qsl(text, keep_blank_values=True, errors="strict")` as a dict, without its
    generality (coercions, separators, limits): it was a tenth of a small write's CPU."""
    if not body.strip():
        return {}
    fields: dict[str, Value] = {}
    try:
        # Not strict: a bare `key` is an empty value, as a Java servlet reads it.
        for pair in body.decode("utf-8").split("&"):
            if pair:
                name, _, value = pair.partition("=")
                fields[_unquote_plus(name)] = _unquote_plus(value)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedBody(f"the urlencoded body could not be read: {exc}") from exc
    return fields


def _unquote_plus(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    return unquote(text, errors="strict") if "%" in text else text


class _MultiPartParser(MultiPartParser):
    """Starlette's parser, noting whether the closing boundary was reached: python-multipart
    accepts a body cut short and hands over the parts it got so far."""

    complete = False

    def on_end(self) -> None:
        super().on_end()
        self.complete = True


async def _multipart(headers: Headers, body: bytes, limit: int) -> dict[str, Value]:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = _MultiPartParser(headers, stream(), max_part_size=limit)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise MalformedBody(f"the multipart body could not be read: {exc.message}") from exc
    fields: dict[str, Value] = {}
    try:
        if body.strip() and not parser.complete:
            raise MalformedBody(
                "the multipart body could not be read: it ends before its closing boundary"
            )
        for key, item in form.multi_items():
            if isinstance(item, UploadFile):
                data = await item.read()
                content_type = item.content_type or "application/octet-stream"
                fields[key] = Binary(data, content_type, item.filename)
            else:
                fields[key] = item
    finally:
        await form.close()
    return fields


def parse_json_object(body: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> dict[str, Value]:
    if not body.strip():
        return {}
    try:
        # The standard parser, not orjson: it keeps big integers whole (GMS's Jackson stored
        # every digit) and reads 1e400 as Infinity, as Jackson did; NaN literals are refused.
        document = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise MalformedJson(f"Could not read JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise BadRequest("the JSON body must be an object of keys and values")
    check_depth(document, max_depth)
    return {key: java_text(value) for key, value in document.items()}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def java_text(value: Any) -> str:
    """A JSON value as the Java `toString()` GMS stored: `{a=1, b=[x, y]}`, `true`, `1.5`."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, list):
        return "[" + ", ".join(java_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_text(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def java_double(value: float) -> str:
    """Java's `Double.toString`: plain between 1e-3 and 1e7, else `1.0E20` scientific form."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    # repr gives the shortest digits that round-trip, as Java does; only the layout differs.
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    point = len(text) + int(exponent)  # position of the decimal point within `text`
    if len(text) == 1:
        # Java (JDK 19+) never shows one digit alone: it takes the two-digit decimal nearest to
        # the exact binary value, which differs from padding with 0 for the smallest subnormals.
        mantissa, _, exp = f"{Decimal(abs(value)):.1e}".partition("e")
        text, point = mantissa.replace(".", "").rstrip("0"), int(exp) + 1
    if 1e-3 <= abs(value) < 1e7:
        if point <= 0:
            plain = "0." + "0" * -point + text
        elif point >= len(text):
            plain = text + "0" * (point - len(text)) + ".0"
        else:
            plain = text[:point] + "." + text[point:]
    else:
        plain = text[0] + "." + (text[1:] or "0") + f"E{point - 1}"
    return ("-" if sign else "") + plain
