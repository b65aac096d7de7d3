"""`make soak`: a mixed GMS + Context Services workload against one `cxgate serve` for a long time.

    .venv/bin/python -m bench.soak                  # 10 minutes on SQLite
    .venv/bin/python -m bench.soak --minutes 3 --rate 300

The workload is a set of short user journeys with short TTLs (5 to 20 s), so that the data it
creates keeps expiring while it runs:
- service:     POST /genesys/1/service/soak-session (TTL 10 s), POST its storage, GET it, GET a key
- storage:     POST /genesys/1/storage/{5..20}, GET it, POST /{id}/{ttl} (update), GET a key
- interaction: POST request-interaction (TTL 15 s), then for 3 in 4 POST match-interaction
- cs:          POST /genesys/1/cs/services/start (ttl 5..20), GET it, and for 1 in 2 end it

Every `--interval` seconds (10) it samples throughput, errors (anything but 2xx, or no answer),
p99 latency, the server's RSS (/proc/<pid>/status) and the rows in the SQLite file (read-only).
When the time is up the load stops and the run waits for the TTLs to run out and the sweepers to
remove the rows ("drain"). It passes when: no request failed; RSS after the warm-up grew by at most
10 %; the row count came back to its baseline. Results: bench/results/soak.{json,md,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from bench.servers import BenchError, ManagedProcess, ProcessSet, free_port, wait_ready

RESULTS_DIR = Path(__file__).resolve().parent / "results"
STATIC_TABLES = frozenset({"flags", "schema_migrations"})  # not data the workload creates
MIN_TTL, MAX_TTL = 5, 20
SWEEP_INTERVAL = 5.0
RSS_GROWTH_LIMIT = 0.10

CONFIG = f"""
[server]
access_code_prefix = "9"
sweep_interval = {SWEEP_INTERVAL}

[service.soak-session]
_type = "builtin"
_service = "session"
_ttl = 10

[service.soak-callback]
_type = "builtin"
_service = "request-interaction"
_ttl = 15
_provide_code = true
_resource_group = "SOAK"

[service.match-interaction]
_type = "builtin"
_service = "match-interaction"

[resources.SOAK]
numbers = ["8005550100", "8005550101", "8005550102", "8005550103", "8005550104"]
"""

JOURNEYS = {"service": 3, "storage": 3, "interaction": 2, "cs": 2}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second offered")
    parser.add_argument("--concurrency", type=int, default=16, help="journeys in flight")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds before RSS must stay flat (default: a fifth of the run, at least 30 s)",
    )
    parser.add_argument(
        "--store",
        default=None,
        help="a sqlite:///path store URL (default: a fresh file in a temporary directory)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"soak: {message}", file=sys.stderr, flush=True)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for pid {pid}")


def count_rows(db: Path) -> dict[str, int]:
    """Rows per data table, read through a read-only connection (WAL: the server is not held)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        counts = {}
        for name in sorted(names):
            if name not in STATIC_TABLES:
                quoted = '"' + name.replace('"', '""') + '"'
                counts[name] = int(conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])
    return counts


def p99(latencies: list[float]) -> float | None:
    if not latencies:
        return None
    ordered = sorted(latencies)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass
class Sample:
    t: float  # seconds since the load started
    phase: str  # "load" or "drain"
    requests: int
    throughput: float  # requests per second in the window
    errors: int
    p99_ms: float | None
    rss_mib: float
    rows: int
    rows_by_table: dict[str, int]


class HttpError(Exception):
    """No HTTP answer: the connection failed, closed early or timed out."""


class Connection:
    """One keep-alive HTTP/1.1 connection to cxgate, reopened after a failure.

    A hand-rolled client rather than httpx: on this 2-core machine httpx spends several times
    more CPU per request than cxgate does serving it, so the soak would measure its own client.
    cxgate always answers with a content-length (Starlette responses), which keeps this small.
    """

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, path: str, *, form: dict[str, Any] | None = None, json: Any = None
    ) -> tuple[int, bytes]:
        headers = f"{method} {path} HTTP/1.1\r\nhost: {self.host}\r\n"
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            headers += "content-type: application/x-www-form-urlencoded\r\n"
        elif json is not None:
            body = orjson.dumps(json)
            headers += "content-type: application/json\r\n"
        if body or method in ("POST", "PUT"):
            headers += f"content-length: {len(body)}\r\n"
        try:
            async with asyncio.timeout(self.timeout):
                return await self._exchange(headers.encode() + b"\r\n" + body)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
        ) as exc:
            self.close()
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc

    async def _exchange(self, raw: bytes) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self._streams is not None:
            with contextlib.suppress(Exception):
                self._streams[1].close()
            self._streams = None


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Workload:
    def __init__(self, base_url: str, *, rate: float, seed: int) -> None:
        self.base = base_url
        self.rate = rate
        self.random = random.Random(seed)
        self.window = Window()
        self.total_requests = 0
        self.total_errors = 0
        self.error_examples: list[str] = []
        self.cs_enabled = True
        self._next_slot = time.monotonic()

    async def _pace(self) -> None:
        """An open-loop pace: request slots every 1/rate s, shared by every journey."""
        self._next_slot = max(self._next_slot + 1.0 / self.rate, time.monotonic() - 1.0)
        delay = self._next_slot - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def call(
        self,
        client: Connection,
        method: str,
        path: str,
        *,
        data: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Answer | None:
        """One request; recorded, and returned when it succeeded (2xx), else None."""
        await self._pace()
        started = time.perf_counter()
        try:
            status, body = await client.request(method, path, form=data, json=json)
        except HttpError as exc:
            self._record(time.perf_counter() - started, None, f"{method} {path}: {exc}")
            return None
        ok = 200 <= status < 300
        detail = "" if ok else f"{method} {path}: HTTP {status} {body[:200]!r}"
        self._record(time.perf_counter() - started, status, detail)
        return Answer(status, body) if ok else None

    def _record(self, latency: float, status: int | None, error: str) -> None:
        self.total_requests += 1
        self.window.latencies.append(latency)
        key = str(status) if status is not None else "no answer"
        self.window.by_status[key] = self.window.by_status.get(key, 0) + 1
        if error:
            self.window.errors += 1
            self.total_errors += 1
            if len(self.error_examples) < 20:
                self.error_examples.append(error)

    def take_window(self) -> Window:
        window, self.window = self.window, Window()
        return window

    def _ttl(self) -> int:
        return self.random.randint(MIN_TTL, MAX_TTL)

    async def service(self, client: Connection, n: int) -> None:
        created = await self.call(
            client, "POST", "/genesys/1/service/soak-session", data={"customer": f"c{n}", "n": n}
        )
        if created is None:
            return
        sid = created.json()["_id"]
        storage = f"/genesys/1/service/{sid}/storage"
        if await self.call(client, "POST", storage, data={"step": "2", "note": "x" * 64}) is None:
            return
        await self.call(client, "GET", storage)
        await self.call(client, "GET", storage + "/step")

    async def storage(self, client: Connection, n: int) -> None:
        created = await self.call(
            client, "POST", f"/genesys/1/storage/{self._ttl()}", data={"a": str(n), "b": "y" * 64}
        )
        if created is None:
            return
        area = f"/genesys/1/storage/{created.json()['id']}"
        await self.call(client, "GET", area)
        await self.call(client, "POST", f"{area}/{self._ttl()}", data={"c": "3"})
        await self.call(client, "GET", area + "/c")

    async def interaction(self, client: Connection, n: int) -> None:
        reserved = await self.call(
            client, "POST", "/genesys/1/service/soak-callback", data={"customer": f"c{n}"}
        )
        if reserved is None or self.random.random() >= 0.75:
            return
        answer = reserved.json()
        data = {"_access_number": answer["_access_number"], "_access_code": answer["_access_code"]}
        matched = await self.call(client, "POST", "/genesys/1/service/match-interaction", data=data)
        if matched is not None and matched.json()["_id"] != answer["_id"]:
            self._record(0.0, None, f"match-interaction found {matched.json()['_id']}")

    async def cs(self, client: Connection, n: int) -> None:
        body = {"customer_id": f"c{n % 500}", "service_type": "soak", "ttl": self._ttl()}
        started = await self.call(client, "POST", "/genesys/1/cs/services/start", json=body)
        if started is None:
            return
        service = f"/genesys/1/cs/services/{started.json()['service_id']}"
        await self.call(client, "GET", service)
        if self.random.random() < 0.5:
            await self.call(client, "POST", service + "/end", json={})

    async def journeys(self, stop: asyncio.Event, worker: int) -> None:
        """One journey after another on this worker's own connection, until `stop`."""
        kinds = [k for k in JOURNEYS if k != "cs" or self.cs_enabled]
        weights = [JOURNEYS[k] for k in kinds]
        client = Connection(self.base)
        n = worker
        try:
            while not stop.is_set():
                kind = self.random.choices(kinds, weights)[0]
                await getattr(self, kind)(client, n)
                n += 1_000
        finally:
            client.close()


async def _has_context_services(base: str) -> bool:
    client = Connection(base)
    try:
        _, body = await client.request(
            "GET", "/genesys/1/cs/services/00000000-0000-0000-0000-000000000000"
        )
    finally:
        client.close()
    return b"no such resource" not in body


async def run(args: argparse.Namespace, base_url: str, pid: int, db: Path) -> dict[str, Any]:
    duration = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else max(30.0, duration / 5)
    workload = Workload(base_url, rate=args.rate, seed=args.seed)
    samples: list[Sample] = []
    workload.cs_enabled = await _has_context_services(base_url)
    baseline = count_rows(db)
    log(f"baseline rows {sum(baseline.values())}; Context Services: {workload.cs_enabled}")
    stop = asyncio.Event()
    started = time.monotonic()
    last_sample = [started]
    tasks = [asyncio.create_task(workload.journeys(stop, i)) for i in range(args.concurrency)]

    def sample(phase: str) -> Sample:
        window = workload.take_window()
        rows = count_rows(db)
        now = time.monotonic()
        elapsed, last_sample[0] = now - last_sample[0], now
        worst = p99(window.latencies)
        taken = Sample(
            t=round(now - started, 1),
            phase=phase,
            requests=len(window.latencies),
            throughput=round(len(window.latencies) / elapsed, 1),
            errors=window.errors,
            p99_ms=None if worst is None else round(worst * 1000, 2),
            rss_mib=round(rss_mib(pid), 2),
            rows=sum(rows.values()),
            rows_by_table=rows,
        )
        samples.append(taken)
        log(
            f"t={taken.t:6.0f}s {phase:5} {taken.throughput:7.1f} req/s  errors {taken.errors}"
            f"  p99 {taken.p99_ms} ms  RSS {taken.rss_mib:.1f} MiB  rows {taken.rows}"
        )
        return taken

    try:
        while time.monotonic() - started < duration:
            await asyncio.sleep(min(args.interval, duration - (time.monotonic() - started)))
            sample("load")
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    # Drain: the longest TTL, two sweeps (the journey sweeper included), and some slack.
    drain_limit = MAX_TTL + 2 * max(SWEEP_INTERVAL, 5.0) + 30
    drain_start = time.monotonic()
    drained = False
    while time.monotonic() - drain_start < drain_limit:
        await asyncio.sleep(5)
        if sample("drain").rows <= sum(baseline.values()):
            drained = True
            break
    return summarize(args, samples, baseline, warmup=warmup, drained=drained, workload=workload)


def summarize(
    args: argparse.Namespace,
    samples: list[Sample],
    baseline: dict[str, int],
    *,
    warmup: float,
    drained: bool,
    workload: Workload,
) -> dict[str, Any]:
    load = [s for s in samples if s.phase == "load"]
    after_warmup = [s for s in load if s.t > warmup] or load[-1:]
    reference = after_warmup[0].rss_mib
    rss_growth = (max(s.rss_mib for s in after_warmup) - reference) / reference
    requests = sum(s.requests for s in load)
    p99s = [s.p99_ms for s in load if s.p99_ms is not None]
    criteria = {
        "zero_errors": workload.total_errors == 0,
        "rss_flat_after_warmup": rss_growth <= RSS_GROWTH_LIMIT,
        "rows_back_to_baseline": drained,
    }
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "minutes": args.minutes,
            "rate": args.rate,
            "concurrency": args.concurrency,
            "interval_s": args.interval,
            "warmup_s": warmup,
            "ttl_range_s": [MIN_TTL, MAX_TTL],
            "sweep_interval_s": SWEEP_INTERVAL,
            "journeys": JOURNEYS,
            "context_services": workload.cs_enabled,
            "store": "sqlite",
        },
        "summary": {
            "requests": requests,
            "errors": workload.total_errors,
            "mean_throughput": round(requests / max(load[-1].t, 1e-9), 1) if load else 0.0,
            "worst_p99_ms": max(p99s) if p99s else None,
            "median_p99_ms": sorted(p99s)[len(p99s) // 2] if p99s else None,
            "rss_at_warmup_mib": reference,
            "rss_max_after_warmup_mib": max(s.rss_mib for s in after_warmup),
            "rss_end_mib": load[-1].rss_mib if load else None,
            "rss_growth_after_warmup": round(rss_growth, 4),
            "rows_baseline": sum(baseline.values()),
            "rows_peak": max(s.rows for s in samples),
            "rows_end": samples[-1].rows,
            "drained_after_s": round(samples[-1].t - load[-1].t, 1) if drained and load else None,
            "error_examples": workload.error_examples,
        },
        "criteria": criteria,
        "passed": all(criteria.values()),
        "samples": [asdict(s) for s in samples],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from bench import soak_report
    except ImportError as exc:
        raise SystemExit(
            f"bench.soak needs matplotlib for its plot ({exc}): run `make soak`, or "
            "`.venv/bin/pip install -e '.[bench]'`"
        ) from exc
    cxgate = Path(sys.executable).parent / "cxgate"
    if not cxgate.exists():
        raise SystemExit(f"bench.soak: no cxgate beside {sys.executable}; run `make install`")
    with tempfile.TemporaryDirectory(prefix="cxgate-soak-") as tmp:
        workdir = Path(tmp)
        store = args.store or f"sqlite:///{workdir}/soak.db"
        if not store.startswith("sqlite:///"):
            raise SystemExit("bench.soak: --store must be a sqlite:/// URL (rows are read there)")
        db = Path(store.removeprefix("sqlite:///").split("?")[0])
        config = workdir / "soak.toml"
        config.write_text(CONFIG)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        argv_serve = [
            str(cxgate),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--store",
            store,
            "--config",
            str(config),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        with ProcessSet() as processes:
            server = processes.start(ManagedProcess("cxgate", argv_serve, workdir / "cxgate.log"))
            wait_ready(server, base_url)
            log(f"cxgate pid {server.pid} on {base_url}, store {store}, {args.minutes:g} min")
            report = asyncio.run(run(args, base_url, server.pid, db))
            if not server.running():
                report["passed"] = False
                report["criteria"]["server_stayed_up"] = False
    paths = soak_report.write(report, args.results_dir)
    for path in paths:
        log(f"wrote {path}")
    log("PASSED" if report["passed"] else f"FAILED: {report['criteria']}")
    print(json.dumps(report["summary"], indent=2))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
