"""Time comes from an injected clock so that tests can move it; production uses the system clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch, UTC."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


def iso_utc(epoch_seconds: float) -> str:
    """`2026-11-22T10:15:30.123Z`: ISO 8601 UTC with milliseconds, as the SPEC fixes it."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
