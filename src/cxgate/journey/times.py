"""Times and durations of Context Services.

Inside cxgate a time is an integer of epoch milliseconds (exact, unlike float seconds, at the
millisecond the API shows). On the wire it is ISO 8601 UTC with milliseconds. Requests may use the
unpadded form GMS accepted (`2016-3-7T4:5:6.634Z`), omit the zone (UTC is meant, as in Genesys's
own examples) or give an offset; anything else is a 400.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta

from cxgate.clock import Clock
from cxgate.errors import BadRequest

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})[Tt]([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})"
    r"(?:\.([0-9]{1,9}))?(Z|z|[+-][0-9]{2}:?[0-9]{2})?"
)
_DURATION = re.compile(r"([0-9]{1,12})\s*([smhdw]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Far enough for any journey, near enough that every expiry still renders as a four-digit year.
MAX_SECONDS = 100 * 365 * 86400


def now_ms(clock: Clock) -> int:
    return int(clock.now() * 1000)


def format_time(ms: int) -> str:
    """`2026-11-22T10:15:30.123Z`, computed from integer milliseconds so no float rounding."""
    return _second(ms // 1000) + f"{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=64)
def _second(seconds: int) -> str:
    """`2026-11-22T10:15:30.`: every event of a request shows the time, and most events of a
    busy node fall in the last few seconds, so strftime runs about once a second."""
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.")


def parse_time(text: object, *, field: str) -> int:
    """An ISO 8601 time from a request -> epoch milliseconds; `BadRequest` naming `field`."""
    if not isinstance(text, str):
        raise BadRequest(f"{field} must be an ISO 8601 time such as 2026-11-22T10:15:30.123Z")
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise BadRequest(
            f"{field} is not an ISO 8601 time: {text[:64]!r} (use 2026-11-22T10:15:30.123Z)"
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError as exc:
        raise BadRequest(f"{field} is not a valid time: {text[:64]!r} ({exc})") from exc
    ms = (moment - _EPOCH) // timedelta(milliseconds=1)
    if fraction:
        ms += int(fraction[:3].ljust(3, "0"))
    if zone and zone not in "Zz":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        ms -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * 1000
    return ms


def parse_duration(value: object, *, field: str) -> int:
    """Seconds from `3600`, `"3600"`, `"30s"`, `"10m"`, `"2h"`, `"3d"` or `"2w"`; must be > 0."""
    if isinstance(value, bool):
        raise BadRequest(f"{field} must be a number of seconds or a duration such as 2h")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip().lower())):
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise BadRequest(f"{field} must be a number of seconds or a duration such as 2h")
    if not 0 < seconds <= MAX_SECONDS:
        raise BadRequest(f"{field} must be more than 0 and at most 100 years")
    return seconds
