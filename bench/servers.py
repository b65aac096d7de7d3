"""The processes a run starts (cxgate, the baseline) and the stores it points cxgate at.

Every process is started in its own session (so a Ctrl-C in the terminal reaches only the
bench, which then stops them in order) with PR_SET_PDEATHSIG on Linux (so that even a killed
bench leaves no orphan), and `ProcessSet` stops whatever is still running on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, urlencode, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
NODE_PATH = "/genesys/1/node"


class BenchError(RuntimeError):
    """Something the run cannot go on with for this backend (the report shows the message)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the bench process dies (Linux only)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise BenchError(f"{self.name} is not started")
        return self.proc.pid

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM to its process group, then SIGKILL after `grace_s`; always reaps it."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # uvicorn with one worker forks nothing; sweep the group anyway in case it did.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class ProcessSet:
    """Starts processes and stops every one still running when the `with` block ends."""

    def __init__(self) -> None:
        self._procs: list[ManagedProcess] = []

    def start(self, process: ManagedProcess) -> ManagedProcess:
        self._procs.append(process)
        process.start()
        return process

    def stop(self, process: ManagedProcess) -> None:
        process.stop()
        if process in self._procs:
            self._procs.remove(process)

    def stop_all(self) -> None:
        while self._procs:
            self._procs.pop().stop()

    def __enter__(self) -> ProcessSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A second Ctrl-C while stopping must not leave the rest running.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.stop_all()
        finally:
            signal.signal(signal.SIGINT, previous)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(process: ManagedProcess, base_url: str, timeout_s: float = 60.0) -> None:
    """Until `GET /genesys/1/node` answers 200; BenchError when the process dies or times out."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if not process.running():
            raise BenchError(
                f"{process.name} exited before it was ready; its log ends with:\n"
                + process.log_tail()
            )
        try:
            status, body = http_get(base_url + NODE_PATH, timeout=1.0)
        except OSError as exc:
            last = str(exc)
        else:
            if status == 200:
                return
            last = f"HTTP {status}: {body[:200]!r}"
        time.sleep(0.1)
    raise BenchError(
        f"{process.name} was not ready after {timeout_s:.0f}s ({last}); its log ends with:\n"
        + process.log_tail()
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc; 0.0 where unavailable)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


STORE_COMMANDS = frozenset({"postgres", "redis-server"})
# The processes whose CPU counts as the store's, per backend (sqlite runs inside cxgate).
BACKEND_COMMANDS: dict[str, frozenset[str]] = {
    "sqlite": frozenset(),
    "postgres": frozenset({"postgres"}),
    "redis": frozenset({"redis-server"}),
}


def cpu_seconds_by_command(commands: frozenset[str] = STORE_COMMANDS) -> dict[int, float]:
    """CPU seconds so far of every process whose name (comm) is in `commands`, by pid."""
    found: dict[int, float] = {}
    if not commands:
        return found
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        head, _, rest = stat.rpartition(")")
        if head.partition("(")[2] not in commands:
            continue
        fields = rest.split()
        found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks_per_s
    return found


def store_cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the store processes used between two `cpu_seconds_by_command` readings
    (a process that started in between counts from zero; one that ended is lost)."""
    return sum(total - before.get(pid, 0.0) for pid, total in after.items())


def machine_cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs together, from /proc/stat ((0, 0) where unavailable)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return 0, 0
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # user..steal; guest time is already inside user
    return total - idle, total


# --- stores ---------------------------------------------------------------------------------


@dataclass
class Backend:
    """One store cxgate is benchmarked on: its URL, and how to empty it before and after."""

    name: str
    store_url: str
    workdir: Path
    base_url: str = ""  # postgres: the URL without the schema; redis: the URL as given

    def reset(self) -> None:
        """Empty the store so that every run starts from the same state."""
        if self.name == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(self._sqlite_path() + suffix).unlink(missing_ok=True)
        elif self.name == "postgres":
            _postgres_drop_schema(self.base_url, _schema_of(self.store_url))
        elif self.name == "redis":
            _redis_flushdb(self.store_url)

    def cleanup(self) -> None:
        self.reset()

    def _sqlite_path(self) -> str:
        return self.store_url.removeprefix("sqlite:///")


BACKEND_NAMES = ("sqlite", "postgres", "redis")
POSTGRES_SCHEMA = "bench_cxgate"


def make_backend(name: str, workdir: Path, *, postgres_url: str, redis_url: str) -> Backend:
    if name == "sqlite":
        path = (workdir / "sqlite" / "cxgate.db").resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return Backend(name, "sqlite:///" + str(path), workdir)  # four slashes: absolute
    if name == "postgres":
        parts = urlsplit(postgres_url)
        query = dict(parse_qsl(parts.query))
        query.setdefault("schema", POSTGRES_SCHEMA)
        store_url = parts._replace(query=urlencode(query)).geturl()
        base = parts._replace(query="").geturl()
        return Backend(name, store_url, workdir, base)
    if name == "redis":
        db = urlsplit(redis_url).path.lstrip("/")
        if not db.isdigit() or db == "0":
            raise BenchError(
                f"the Redis URL {redis_url!r} must name a database other than 0 "
                "(the bench runs FLUSHDB on it): use redis://127.0.0.1:6379/14"
            )
        return Backend(name, redis_url, workdir, redis_url)
    raise BenchError(f"unknown backend {name!r}; use {', '.join(BACKEND_NAMES)}")


def _schema_of(store_url: str) -> str:
    return dict(parse_qsl(urlsplit(store_url).query)).get("schema", POSTGRES_SCHEMA)


def _postgres_drop_schema(dsn: str, schema: str) -> None:
    if not schema.startswith("bench"):
        raise BenchError(f"refusing to drop the schema {schema!r}: bench schemas start with bench")
    try:
        import asyncpg
    except ImportError as exc:
        raise BenchError(
            "the postgres backend needs asyncpg: pip install 'cxgate[postgres]'"
        ) from exc

    async def drop() -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            quoted = '"' + schema.replace('"', '""') + '"'
            await conn.execute(f"DROP SCHEMA IF EXISTS {quoted} CASCADE")
        finally:
            await conn.close()

    try:
        asyncio.run(drop())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise BenchError(f"PostgreSQL at {dsn} is not usable: {exc}") from exc


def _redis_command(sock: socket.socket, *args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    sock.sendall(b"".join(parts))
    reply = b""
    while not reply.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    return reply


def _redis_flushdb(url: str) -> None:
    """SELECT the URL's database and FLUSHDB it, speaking RESP directly (no driver needed)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            if parts.password:
                reply = _redis_command(sock, "AUTH", parts.password)
                if not reply.startswith(b"+OK"):
                    raise BenchError(f"Redis AUTH failed: {reply!r}")
            for command in (("SELECT", parts.path.lstrip("/")), ("FLUSHDB",)):
                reply = _redis_command(sock, *command)
                if not reply.startswith(b"+OK"):
                    raise BenchError(f"Redis {command[0]} failed: {reply!r}")
    except OSError as exc:
        raise BenchError(f"Redis at {host}:{port} is not reachable: {exc}") from exc
