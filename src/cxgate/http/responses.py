"""Response helpers shared by the routers."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from starlette.responses import Response

from cxgate.backends.base import Binary, Value


def json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type="application/json")


def empty(status: int = 200) -> Response:
    return Response(b"", status)


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
