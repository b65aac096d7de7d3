"""Schemathesis against a live `cxgate serve`: every answer must be one the OpenAPI document
declares, and the server must survive the run.

Bounded: a fixed number of examples per operation (`--max-examples`), deterministic generation
(the same cases on every run), a per-request timeout and a deadline on the whole subprocess.
The server has users (so authentication is exercised: `ignored_auth` sends each call without
the credentials and expects 401), the demo services, and a short CometD connect timeout so that
a held `/meta/connect` never stalls the run.

What fails the run (schemathesis checks):
- `status_code_conformance`: a status the document does not list for the operation. 500 is
  listed only for GMS's documented malformed-JSON case, and its schema demands that message,
  so any other 500 fails `response_schema_conformance`.
- `content_type_conformance`, `response_schema_conformance`, `response_headers_conformance`
  (`X-Request-Id` on every answer, `Location` on 201s, `WWW-Authenticate` on 401s).
- `ignored_auth` (401 without credentials) and `unsupported_method` (405 with `Allow` for a
  method the path does not take).
Then: the server still answers `/genesys/1/node`, logged no unhandled error, and exits cleanly
on SIGTERM.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from cxgate.http import openapi
from tests.e2e.processes import DEMO_CONFIG, serve, stop

pytestmark = pytest.mark.slow

ST = str(Path(sys.executable).parent / "st")
USER, PASSWORD = "fuzz", "fuzz-pw"
CHECKS = ",".join(
    [
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "ignored_auth",
        "unsupported_method",
    ]
)
# Maintenance mode is one switch for the whole server: fuzzed with the rest, it would turn
# every later write into a (documented) 503. It gets a run of its own, after the others.
MAINTENANCE = ("setMaintenance", "getMaintenance")
RUN_DEADLINE = 150.0  # seconds for each schemathesis subprocess, a hard stop


def config(tmp_path: Path) -> Path:
    hashed = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD)
    path = tmp_path / "fuzz.toml"
    path.write_text(
        Path(DEMO_CONFIG).read_text()
        + f'\n[users.{USER}]\npassword_hash = "{hashed}"\nroles = ["admin"]\n'
        + "\n[cometd]\ntimeout_ms = 500\n"
        + f'\n[cs]\nexport_dir = "{tmp_path / "export"}"\n'
    )
    return path


def schemathesis(
    base_url: str,
    report: Path,
    *selection: str,
    phases: str = "examples,coverage,fuzzing,stateful",
) -> list[str]:
    """The `st run` command line (a JUnit report of every case goes to `report`)."""
    return [
        ST,
        "run",
        base_url + "/openapi.json",
        f"--auth={USER}:{PASSWORD}",
        f"--checks={CHECKS}",
        f"--phases={phases}",
        "--max-examples=8",
        "--generation-deterministic",
        "--request-timeout=10",
        "--max-redirects=0",
        "--workers=2",
        "--no-color",
        f"--report-junit-path={report}",
        "--report=junit",
        *selection,
    ]


def run(command: list[str], cwd: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_DEADLINE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def test_schemathesis_finds_nothing_outside_the_document(tmp_path: Path) -> None:
    with serve(tmp_path, "--config", str(config(tmp_path))) as served:
        everything_else = [f"--exclude-operation-id={op}" for op in MAINTENANCE]
        code, output, seconds = run(
            schemathesis(served.base_url, tmp_path / "main.xml", *everything_else), tmp_path
        )
        print(output[-3000:], f"\n(main run: {seconds:.1f} s)")
        assert code == 0, output[-20000:]
        # Every operation of the document but the maintenance pair (and /openapi.json itself,
        # which schemathesis leaves out as the schema's own location) was tested.
        operations = sum(
            method in item
            for item in openapi.load()["paths"].values()
            for method in ("get", "put", "post", "delete", "patch")
        )
        tested = operations - len(MAINTENANCE) - 1
        assert f"Selected: {tested}/{operations - 1}" in output
        assert f"Tested: {tested}\n" in output

        maintenance = [f"--include-operation-id={op}" for op in MAINTENANCE]
        command = schemathesis(
            served.base_url,
            tmp_path / "maintenance.xml",
            *maintenance,
            phases="examples,coverage,fuzzing",
        )
        code, output, seconds = run(command, tmp_path)
        print(output[-1500:], f"\n(maintenance run: {seconds:.1f} s)")
        assert code == 0, output[-20000:]

        node = httpx.get(served.base_url + "/genesys/1/node", timeout=5)
        assert node.status_code == 200, node.text
        assert stop(served.process) == 0
    log = served.log()
    assert "unhandled error" not in log, log[-5000:]
    assert "Traceback" not in log, log[-5000:]
