"""What the interop tests need from the machine, and what happens when it is missing.

They drive real third-party programs: Node.js with the npm clients pinned in package.json
(installed here by npm when node_modules is missing) and sipp (Debian's `sip-tester`). On a
developer's machine without them those tests skip, loudly: each says why, and the run ends with
an `INTEROP SKIPPED` line per missing tool. With `CXGATE_REQUIRE_INTEROP=1` (`.ci/run` sets it)
a missing tool fails the tests instead, so CI can never skip them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any, NoReturn

import pytest

from tests.interop.clients import HERE, PACKAGES

REQUIRE_INTEROP = os.environ.get("CXGATE_REQUIRE_INTEROP", "") not in ("", "0")
SKIPPED: dict[str, str] = {}


def unavailable(tool: str, why: str) -> NoReturn:
    """Skip the test (recording why for the summary), or fail it when interop is required."""
    if REQUIRE_INTEROP:
        pytest.fail(f"{why}; CXGATE_REQUIRE_INTEROP=1 requires the interop tests", pytrace=False)
    SKIPPED[tool] = why
    pytest.skip(f"INTEROP SKIPPED: {why}")


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, with the pinned client packages installed beside this file."""
    node = shutil.which("node")
    if node is None:
        unavailable("node", "`node` is not on PATH (install Node.js 18+ and npm)")
    if not all((HERE / "node_modules" / name / "package.json").exists() for name in PACKAGES):
        npm = shutil.which("npm")
        if npm is None:
            unavailable("node", "`npm` is not on PATH, and tests/interop/node_modules is missing")
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(HERE)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, f"npm install failed:\n{result.stdout}\n{result.stderr}"
    return node


@pytest.fixture(scope="session")
def sipp() -> str:
    """The sipp executable (Debian package `sip-tester`)."""
    sipp = shutil.which("sipp")
    if sipp is None:
        unavailable("sipp", "`sipp` is not on PATH (apt-get install sip-tester)")
    return sipp


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for tool, why in SKIPPED.items():
        terminalreporter.write_line(
            f"INTEROP SKIPPED: {tool}: {why}; CI (CXGATE_REQUIRE_INTEROP=1) requires it",
            yellow=True,
            bold=True,
        )
