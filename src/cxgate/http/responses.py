"""Response helpers shared by the routers.

`json` and `empty` build the very `Response` Starlette would (same status, body and headers in
the same order), without its generic header assembly: lowercasing, encoding and looking up
names it does not need to here. They make one of the few objects every request allocates.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from starlette.responses import Response

from cxgate.backends.base import Binary, Value

_JSON_TYPE = (b"content-type", b"application/json")
_NO_CONTENT = (b"content-length", b"0")
# Statuses that carry no content-length (Starlette's rule in Response.init_headers).
_BODILESS = frozenset({*range(100, 200), 204, 304})


class _Prepared(Response):
    """A `Response` whose body and raw headers are given as they go out."""

    def __init__(
        self,
        body: bytes,
        status: int,
        raw_headers: list[tuple[bytes, bytes]],
        media_type: str | None = None,
    ) -> None:
        self.status_code = status
        self.media_type = media_type
        self.background = None
        self.body = body
        self.raw_headers = raw_headers


def json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(content)
    if headers or status in _BODILESS:
        return Response(body, status, headers, media_type="application/json")
    length = (b"content-length", b"%d" % len(body))
    return _Prepared(body, status, [length, _JSON_TYPE], "application/json")


def empty(status: int = 200) -> Response:
    if status in _BODILESS:
        return Response(b"", status)
    return _Prepared(b"", status, [_NO_CONTENT])


def binary(value: Value) -> Response:
    """A stored value as raw bytes: files with their type and name, text as UTF-8 text."""
    if not isinstance(value, Binary):
        return Response(value.encode("utf-8"), media_type="text/plain; charset=utf-8")
    # The stored content type goes out exactly as it came in: given as `media_type`, Starlette
    # would append `; charset=utf-8` to a text/* type and misdescribe a latin-1 file.
    headers = {"content-type": value.content_type}
    if value.filename:
        headers["content-disposition"] = f"attachment; filename*=UTF-8''{quote(value.filename)}"
    return Response(value.data, headers=headers)
