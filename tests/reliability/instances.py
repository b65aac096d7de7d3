"""Backends that a reliability test owns: its own PostgreSQL cluster and its own redis-server.

They can be stopped, killed, frozen (SIGSTOP) and brought back without touching the shared
servers other tests use. PostgreSQL refuses to run as root, so as root the cluster belongs to the
`postgres` system user and every PostgreSQL command runs through `runuser`. Each instance listens on
a free loopback port and lives in a fresh directory that is removed afterwards.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.e2e.processes import free_port

PG_BIN = Path(os.environ.get("CXGATE_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_SYSTEM_USER = "postgres"
REDIS_SERVER = shutil.which("redis-server")
REPO = Path(__file__).resolve().parents[2]
REDIS_CONF = REPO / "deploy" / "redis.conf"


def postgres_missing() -> str | None:
    """Why this machine cannot run a private PostgreSQL cluster, or None when it can."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL binaries in {PG_BIN} (set CXGATE_PG_BIN)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            return f"running as root and there is no {PG_SYSTEM_USER!r} user to run PostgreSQL"
    return None


def redis_missing() -> str | None:
    return None if REDIS_SERVER else "redis-server is not on PATH"


def _wait_port(port: int, *, up: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'} within {timeout} s")


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("PPid:") and int(line.split()[1]) == pid:
                found.append(int(entry.name))
                break
    return found


class OwnPostgres:
    """A PostgreSQL cluster of the test's own (initdb into a fresh directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "postgres.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str, timeout: float = 60.0) -> None:
        prefix = ["runuser", "-u", PG_SYSTEM_USER, "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stdout}{result.stderr}")

    def init(self) -> None:
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",  # initdb's own files only; the server itself keeps fsync on
            "--no-instructions",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )
        _wait_port(self.port, up=True, timeout=10)

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        _wait_port(self.port, up=False, timeout=10)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def pids(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, ...)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return [postmaster, *_children(postmaster)]

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP the whole cluster: connections open, nothing answers. SIGCONT at the end."""
        pids = self.pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A started private cluster, stopped and removed at the end whatever happened."""
    root = Path(tempfile.mkdtemp(prefix="cxgate-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(root, account.pw_uid, account.pw_gid)
    pg = OwnPostgres(root)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        if pg.running():
            for pid in _safe_pids(pg):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)  # a frozen cluster cannot stop
            try:
                pg.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired, TimeoutError):
                for pid in _safe_pids(pg):
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def _safe_pids(pg: OwnPostgres) -> list[int]:
    try:
        return pg.pids()
    except (OSError, ValueError, IndexError):
        return []


class OwnRedis:
    """A redis-server of the test's own, started from deploy/redis.conf (AOF, fsync always)."""

    def __init__(self, root: Path, *, appendonly: bool = True) -> None:
        self.root = root
        self.port = free_port()
        self.appendonly = appendonly
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS_SERVER is not None
        command = [
            REDIS_SERVER,
            str(REDIS_CONF),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.root),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.root / "redis.log"),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.root / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited early: {log[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return  # answers PONG only once the AOF is loaded
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError("redis-server did not answer within 15 s")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync; only what the AOF already holds survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        _wait_port(self.port, up=False, timeout=10)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP redis-server: connections open, nothing answers. SIGCONT at the end."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGCONT)


@contextmanager
def own_redis(*, appendonly: bool = True) -> Iterator[OwnRedis]:
    root = Path(tempfile.mkdtemp(prefix="cxgate-redis-"))
    redis = OwnRedis(root, appendonly=appendonly)
    try:
        redis.start()
        yield redis
    finally:
        if redis.process is not None and redis.process.poll() is None:
            with suppress(ProcessLookupError):
                os.kill(redis.process.pid, signal.SIGCONT)
            redis.process.kill()
            redis.process.wait(10)
        shutil.rmtree(root, ignore_errors=True)
