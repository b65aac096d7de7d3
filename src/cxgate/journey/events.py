"""Request bodies of Context Services -> validated events, start fields and attached data.

A body mixes three things: event fields (fixed names, checked types and lengths), the fields of
the call itself (`customer_id`, `state_type`, ...) and attached data (every other key, kept as
sent). A key that names a field of the resource model is never attached data: it is either an
input of the call or ignored, so that clients that send a start body again as the end body (or
echo a resource back) get no error and no stray attached data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cxgate.errors import BadRequest
from cxgate.journey.models import Json, JsonObject
from cxgate.journey.times import MAX_SECONDS, format_time, parse_duration, parse_time

MAX_TEXT = 256  # customer ids, contact keys, types and other strings the SPEC leaves unbounded
_INT64 = 2**63 - 1
_DIGITS = re.compile(r"-?[0-9]{1,19}")


def text(value: Json, field: str, max_length: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string")
    if len(value) > max_length:
        raise BadRequest(f"{field} is longer than {max_length} characters")
    if "\x00" in value:
        raise BadRequest(f"{field} must not contain the character U+0000")
    return value


def integer(value: Json, field: str, *, minimum: int = -_INT64) -> int:
    """An integer, also from a numeric string (as Jackson, behind GMS, coerced them)."""
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{field} must be an integer")
    if not minimum <= value <= _INT64:
        raise BadRequest(f"{field} is out of range")
    return value


def item_id(value: Json, field: str) -> int:
    """A state or task id: a JSON number or a numeric string, never negative."""
    return integer(value, field, minimum=0)


def number_or_text(value: Json, field: str) -> Json:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest(f"{field} must be a number or a string")
    if isinstance(value, str):
        text(value, field)
    return value


def type_value(value: Json, field: str) -> tuple[Json, str]:
    """A service, state or task type (long or string): as sent, and as the text that filters
    and composite starts compare (`10` and `"10"` are the same type)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(f"{field} must be an integer or a string")
    if isinstance(value, str):
        return value, text(value, field)
    return value, str(integer(value, field))


def identity(value: Json, field: str) -> str | None:
    """customer_id / contact_key: a string (numbers accepted: IVRs send ANIs as numbers)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return text(value, field) or None


Check = Callable[[Json, str], Json]
EVENT_FIELDS: dict[str, Check] = {
    "session_id": lambda v, f: text(v, f, 32),
    "interaction_id": lambda v, f: text(v, f, 50),
    "application_type": number_or_text,
    "application_id": integer,
    "resource_type": number_or_text,
    "resource_id": integer,
    "media_type": number_or_text,
}
END_FIELDS: dict[str, Check] = {
    "disposition": number_or_text,
    "disposition_desc": lambda v, f: text(v, f, 64),
}
_TIMING = frozenset({"timestamp", "ttl", "expiration_time"})
SERVICE_FIELDS = frozenset(
    {"customer_id", "contact_key", "service_type", "est_duration", "auto_complete_after"}
)
STATE_FIELDS = frozenset({"state_type", "previous_state_id", "est_duration"})
TASK_FIELDS = frozenset({"task_type", "state_id", "est_duration"})
_OUTPUT_ONLY = frozenset(
    {
        "service_id",
        "task_id",
        "started",
        "completed",
        "active_states",
        "completed_states",
        "active_tasks",
        "completed_tasks",
    }
)
# Every name the resource model uses: never attached data.
RESERVED = frozenset(
    EVENT_FIELDS.keys() | END_FIELDS.keys() | _TIMING | SERVICE_FIELDS | STATE_FIELDS
) | (TASK_FIELDS | _OUTPUT_ONLY)


@dataclass(frozen=True, slots=True)
class EventParts:
    at: int  # the event's time: `timestamp`, else now
    event: JsonObject  # as shown: timestamp first, then the event fields in the order sent
    expires_at: int | None  # from `ttl` (wins) or `expiration_time`
    own: JsonObject  # the call's own fields, still to be checked by the caller
    data: JsonObject  # attached data


def as_object(body: Json, what: str = "the body") -> JsonObject:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return body


def check_key(key: str, max_length: int) -> str:
    if not key or len(key) > max_length:
        raise BadRequest(f"attached data keys must have 1 to {max_length} characters")
    if key in RESERVED:
        raise BadRequest(f"{key!r} is a field of the resource, not attached data")
    return key


def parse_event(
    body: JsonObject, *, now: int, own: frozenset[str], end: bool, max_key_length: int
) -> EventParts:
    at = now
    fields: JsonObject = {}
    timing: JsonObject = {}
    mine: JsonObject = {}
    data: JsonObject = {}
    for key, value in body.items():
        if key in own:
            if value is not None:
                mine[key] = value
        elif key in EVENT_FIELDS or (end and key in END_FIELDS):
            if value is not None:
                fields[key] = (EVENT_FIELDS.get(key) or END_FIELDS[key])(value, key)
        elif key in _TIMING:
            if value is not None:
                timing[key] = value
        elif key not in RESERVED:
            data[check_key(key, max_key_length)] = value
    if "timestamp" in timing:
        at = parse_time(timing["timestamp"], field="timestamp")
    return EventParts(
        at, {"timestamp": format_time(at), **fields}, expiry(timing, now=now), mine, data
    )


def expiry(body: JsonObject, *, now: int) -> int | None:
    """The expiry that `ttl` (seconds; it wins) or `expiration_time` asks for, if any."""
    if body.get("ttl") is not None:
        return now + parse_duration(body["ttl"], field="ttl") * 1000
    if body.get("expiration_time") is not None:
        moment = parse_time(body["expiration_time"], field="expiration_time")
        return min(moment, now + MAX_SECONDS * 1000)
    return None


def optional_int(own: JsonObject, key: str, *, minimum: int = 0) -> int | None:
    return None if key not in own else integer(own[key], key, minimum=minimum)
