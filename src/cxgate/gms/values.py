"""Rules every stored key/value obeys, whatever API wrote it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cxgate.backends.base import Binary, Value
from cxgate.errors import BadRequest


@dataclass(frozen=True, slots=True)
class ValueLimits:
    max_key_length: int = 1024
    max_keys: int = 1000
    max_value_size: int = 10 * 1024 * 1024  # bytes (UTF-8 for text)


def check_values(values: Mapping[str, Value], limits: ValueLimits) -> None:
    """Refuse (400) what a backend could not store exactly, rather than truncate or mangle it.

    NUL cannot live in PostgreSQL text, so it is refused everywhere to keep backends alike."""
    if len(values) > limits.max_keys:
        raise BadRequest(f"too many keys: {len(values)} (the limit is {limits.max_keys})")
    for key, value in values.items():
        if not key:
            raise BadRequest("a key must not be empty")
        if len(key) > limits.max_key_length:
            raise BadRequest(
                f"key {key[:40]!r}... is {len(key)} characters long "
                f"(the limit is {limits.max_key_length})"
            )
        if "\x00" in key:
            raise BadRequest(f"key {key!r} contains a NUL character")
        if not _encodable(key):
            raise BadRequest(f"key {key!r} is not valid Unicode text (a lone surrogate)")
        if isinstance(value, Binary):
            size = len(value.data)
        else:
            if "\x00" in value:
                raise BadRequest(f"the value of key {key!r} contains a NUL character")
            try:
                size = len(value.encode("utf-8"))
            except UnicodeEncodeError:
                raise BadRequest(f"the value of key {key!r} is not valid Unicode text") from None
        if size > limits.max_value_size:
            raise BadRequest(
                f"the value of key {key[:40]!r} is {size} bytes (the limit is "
                f"{limits.max_value_size})"
            )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_number(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also accepts "²", which `int()` then refuses."""
    return text.isascii() and text.isdigit()


def split_parameters(fields: Mapping[str, Value]) -> tuple[dict[str, str], dict[str, Value]]:
    """Keys that start with `_` are parameters for the service; the rest is data to store."""
    params: dict[str, str] = {}
    data: dict[str, Value] = {}
    for key, value in fields.items():
        if key.startswith("_"):
            if isinstance(value, Binary):
                raise BadRequest(f"parameter {key} must be text, not a file")
            params[key] = value
        else:
            data[key] = value
    return params, data
