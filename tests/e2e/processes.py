"""Real `cxgate serve` processes for end-to-end tests, always stopped at the end."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

CXGATE = str(Path(sys.executable).parent / "cxgate")
DEMO_CONFIG = str(Path(__file__).resolve().parents[2] / "src" / "cxgate" / "demo.toml")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")


def wait_ready(
    url: str,
    process: subprocess.Popen[bytes],
    *,
    verify: bool | ssl.SSLContext = True,
    timeout: float = 30.0,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cxgate exited early with status {process.returncode}")
        try:
            if httpx.get(url + "/genesys/1/node", verify=verify, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"cxgate did not answer on {url} within {timeout} s")


@contextmanager
def serve(
    tmp_path: Path,
    *args: str,
    port: int | None = None,
    scheme: str = "http",
    verify: bool | ssl.SSLContext = True,
    env: dict[str, str] | None = None,
    wait: bool = True,
) -> Iterator[Served]:
    """`cxgate serve` on a free loopback port (unless `args` say otherwise)."""
    port = port or free_port()
    log_path = tmp_path / f"cxgate-{port}.log"
    store = f"sqlite:///{tmp_path}/cxgate-{port}.db"
    command = [CXGATE, "serve", "--port", str(port), *args]
    if "--access-log" not in args:
        command.append("--no-access-log")
    if "--store" not in args:
        command += ["--store", store]
    if "--host" not in args:
        command += ["--host", "127.0.0.1"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    served = Served(process, f"{scheme}://127.0.0.1:{port}", log_path)
    try:
        if wait:
            wait_ready(served.base_url, process, verify=verify)
        yield served
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode
