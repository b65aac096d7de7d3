"""The console in a real browser: Debian's Chromium, driven by `driver.mjs` (playwright-core),
against a real `cxgate serve` process.

Without Chromium, Node.js or the console's build the tests skip, loudly, on a developer's
machine; with `CI` or `CXGATE_REQUIRE_BROWSER=1` set (`.ci/run` sets it) they fail. The pinned
playwright-core is installed beside this file when node_modules is missing (it never downloads
a browser).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from argon2 import PasswordHasher

from tests.e2e.processes import DEMO_CONFIG, Served, serve

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
BUILT = ROOT / "src" / "cxgate" / "console" / "static" / "index.html"
SCENARIO_TIMEOUT = 60.0

ADMIN = ("ada", "ada-secret")
AGENT = ("bob", "bob-secret")
UNREACHABLE = "http://127.0.0.1:9/strategy"  # port 9 (discard): nothing listens on loopback
SILENT_SIP = "sip:127.0.0.1:9"


# CI (`CI` set, or CXGATE_REQUIRE_BROWSER=1 as `.ci/run` sets it) never skips these tests.
REQUIRE_BROWSER = bool(os.environ.get("CI")) or os.environ.get(
    "CXGATE_REQUIRE_BROWSER", ""
) not in ("", "0")
SKIPPED: list[str] = []


def _unavailable(what: str, fix: str) -> NoReturn:
    if REQUIRE_BROWSER:
        pytest.fail(f"{what}; CI must run the console's browser tests", pytrace=False)
    SKIPPED.append(f"{what} ({fix})")
    pytest.skip(f"BROWSER TESTS SKIPPED: {what} ({fix})")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for why in dict.fromkeys(SKIPPED):
        terminalreporter.write_line(
            f"BROWSER TESTS SKIPPED: {why}; CI requires them", yellow=True, bold=True
        )


def _chromium() -> str:
    """$CXGATE_CHROMIUM when set, else Debian's chromium."""
    chosen = os.environ.get("CXGATE_CHROMIUM")
    if chosen:
        if not Path(chosen).is_file():
            _unavailable(f"CXGATE_CHROMIUM={chosen} does not exist", "unset it or fix the path")
        return chosen
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        _unavailable("no Chromium", "apt-get install chromium chromium-driver")
    return found


@dataclass(frozen=True)
class Driver:
    node: str
    chromium: str

    def run(self, scenario: str, served: Served, data: dict[str, Any] | None = None) -> Any:
        """Run one scenario of driver.mjs; what it saw, as JSON."""
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"console-failed-{scenario}.png").unlink(missing_ok=True)
        payload = {"admin": ADMIN, "agent": AGENT, **(data or {})}
        result = subprocess.run(
            [self.node, str(HERE / "driver.mjs"), scenario, served.base_url, str(ARTIFACTS)],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=SCENARIO_TIMEOUT,
            cwd=HERE,
            env={**os.environ, "CXGATE_CHROMIUM": self.chromium},
            check=False,
        )
        assert result.returncode == 0, (
            f"scenario {scenario} failed:\n{result.stderr}\n--- cxgate log ---\n{served.log()}"
        )
        return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def driver() -> Driver:
    chromium = _chromium()
    node = shutil.which("node")
    if node is None:
        _unavailable("`node` is not on PATH", "install Node.js 20.19+")
    if not BUILT.exists():
        _unavailable("the console is not built", "run `make install` with npm on PATH")
    if not (HERE / "node_modules" / "playwright-core" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("`npm` is not on PATH", "it installs tests/browser/node_modules")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return Driver(node, chromium)


def _hash(password: str) -> str:
    # Cheap parameters: the server verifies on every call, and the suite has a time budget.
    return PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(password)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo configuration, two users, a silent SIP endpoint, and two mistakes for the
    configuration view."""
    path = tmp_path_factory.mktemp("console") / "console.toml"
    path.write_text(
        Path(DEMO_CONFIG).read_text("utf-8")
        + f"""
[service.crm]                     # an http service whose endpoint does not answer
_type = "http"
_service = "{UNREACHABLE}"

[service.notes]                   # a parameter the built-in never reads
_type = "builtin"
_service = "session"
_ttl = 600
_resource_group = "DNIS"

[voice.SIPS1]                     # a SIP endpoint nobody answers for: an Inactive card
uri = "{SILENT_SIP}"

[status]
timeout = 0.5

[users.{ADMIN[0]}]
password_hash = "{_hash(ADMIN[1])}"
roles = ["admin"]

[users.{AGENT[0]}]
password_hash = "{_hash(AGENT[1])}"
roles = ["agent"]
""",
        "utf-8",
    )
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, config_file: Path) -> Iterator[Served]:
    """One `cxgate serve` with users, shared by the module's tests (each owns its data)."""
    with serve(tmp_path_factory.mktemp("served"), "--config", str(config_file)) as served:
        yield served
