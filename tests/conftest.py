from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import (
    ALL_BACKENDS,
    JOURNEY_BACKENDS,
    REQUIRED,
    SKIPPED,
    Harness,
    harness,
    journey_harness,
    unavailable_reason,
)


def backend_param(backend: str) -> Any:
    """A pytest param for a backend: skipped (loudly) when unreachable, unless CI requires it."""
    reason = unavailable_reason(backend)
    if reason is None:
        return pytest.param(backend, id=backend)
    if backend in REQUIRED:
        return pytest.param(backend, id=backend)  # run anyway: the failure is the message
    SKIPPED[backend] = reason
    return pytest.param(backend, id=backend, marks=pytest.mark.skip(reason=reason))


BACKEND_PARAMS = [backend_param(b) for b in ALL_BACKENDS]


@pytest.fixture(params=BACKEND_PARAMS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    """A fresh store of each backend in turn, with a clock the test can move."""
    async with harness(request.param, tmp_path) as h:
        yield h


JOURNEY_PARAMS = [backend_param(b) for b in JOURNEY_BACKENDS]


@pytest.fixture(params=JOURNEY_PARAMS)
async def journey_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    """A fresh journey store (Context Services) of each SQL backend in turn."""
    async with journey_harness(request.param, tmp_path) as h:
        yield h


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for name, reason in SKIPPED.items():
        terminalreporter.write_line(
            f"BACKEND SKIPPED: {name} ({reason}); CI requires it", yellow=True, bold=True
        )
