"""`python -m bench.profile`: where one cxgate worker spends its time under one scenario's load.

Starts `cxgate serve` on a backend exactly as `python -m bench` does, creates the fixtures, runs
wrk with the scenario's requests and samples the server with `py-spy record` meanwhile. It keeps
the raw collapsed stacks (and a flame graph) in bench/results/profiles/ (git-ignored) and prints:
the share of samples per layer (the innermost frame of a stack decides), the top functions by
self time and by inclusive time. Needs py-spy (`.venv/bin/pip install py-spy`) and root or
ptrace rights.

    python -m bench.profile --backend postgres --scenario service_storage_get --duration 10
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cxgate
from bench import scenarios as sc
from bench.servers import (
    BACKEND_NAMES,
    ManagedProcess,
    ProcessSet,
    cpu_seconds,
    free_port,
    make_backend,
    wait_ready,
)
from bench.wrk import ensure_wrk, run_wrk

PROFILES_DIR = Path(__file__).resolve().parent / "results" / "profiles"
HOST = "127.0.0.1"

# (layer, substrings of a frame's file path): the first match of the innermost frame wins.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cxgate store backend", ("cxgate/backends/",)),
    ("cxgate GMS logic", ("cxgate/gms/",)),
    ("cxgate auth", ("cxgate/auth/",)),
    ("cxgate HTTP layer", ("cxgate/http/", "cxgate/app.py")),
    ("cxgate other", ("cxgate/",)),
    ("asyncpg driver", ("asyncpg/",)),
    ("redis driver", ("redis/",)),
    ("structlog", ("structlog/",)),
    ("pydantic", ("pydantic",)),
    ("starlette", ("starlette/",)),
    ("uvicorn", ("uvicorn/",)),
    ("asyncio / uvloop", ("asyncio/", "uvloop/")),
    ("stdlib", ("/lib/python3",)),
)


@dataclass(frozen=True, slots=True)
class Frame:
    function: str
    path: str
    line: str

    @property
    def label(self) -> str:
        short = self.path.split("site-packages/")[-1].split("/src/")[-1]
        return f"{self.function} ({short})"


def parse_frame(text: str) -> Frame:
    """`function (path:line)` as py-spy writes it in raw (collapsed) output."""
    if text.endswith(")") and " (" in text:
        function, _, where = text[:-1].rpartition(" (")
        path, _, line = where.rpartition(":")
        return Frame(function, path or where, line)
    return Frame(text, "", "")


def layer_of(frame: Frame) -> str:
    for name, needles in LAYERS:
        if any(n in frame.path for n in needles):
            return name
    return "native / other"


def _on_stack(frames: list[Frame], *needles: str) -> bool:
    return any(any(n in f.path for n in needles) for f in frames)


def _leaf_in(frames: list[Frame], *needles: str) -> bool:
    return any(n in frames[-1].path for n in needles)


# (bucket, test): the first bucket whose test holds takes the sample. The order goes from the
# most specific (what the store costs, whatever it calls) to the most general (the loop).
BUCKETS: tuple[tuple[str, Callable[[list[Frame]], bool]], ...] = (
    (
        "store: cxgate backend + driver (asyncpg/redis/sqlite3), incl. its socket I/O",
        lambda fs: _on_stack(fs, "cxgate/backends/", "asyncpg/", "/redis/"),
    ),
    (
        "ids: uuid4, new_id",
        lambda fs: any(f.function in ("uuid4", "UUID.__init__", "new_id") for f in fs),
    ),
    ("logging: structlog contextvars", lambda fs: _on_stack(fs, "structlog/")),
    ("metrics: prometheus_client", lambda fs: _on_stack(fs, "prometheus_client/")),
    (
        "response write: uvicorn send + socket write",
        lambda fs: any(f.function == "RequestResponseCycle.send" for f in fs),
    ),
    (
        "body: read + parse (cxgate/http/bodies.py, receive.py)",
        lambda fs: _on_stack(fs, "cxgate/http/bodies", "cxgate/http/receive"),
    ),
    (
        "routing: the route index and Starlette's route matching",
        lambda fs: _leaf_in(fs, "cxgate/http/routing", "starlette/routing", "starlette/convertors"),
    ),
    (
        "cxgate middlewares (request id, metrics, auth, store guard)",
        lambda fs: _leaf_in(
            fs, "cxgate/http/middleware", "cxgate/http/metrics", "cxgate/auth/", "cxgate/status/"
        ),
    ),
    ("cxgate handlers + GMS logic", lambda fs: _leaf_in(fs, "cxgate/")),
    (
        "starlette: routing, Request/Response, exception middleware",
        lambda fs: _leaf_in(fs, "starlette/"),
    ),
    (
        "uvicorn: HTTP protocol (httptools callbacks, task start)",
        lambda fs: _leaf_in(fs, "uvicorn/"),
    ),
    (
        "event loop: uvloop/asyncio (C loop, timeouts, tasks)",
        lambda fs: _leaf_in(fs, "asyncio/", "uvloop"),
    ),
)


def bucket_of(frames: list[Frame]) -> str:
    for name, test in BUCKETS:
        if test(frames):
            return name
    return "other (stdlib, typing, native)"


def analyse(raw: Path, top: int = 25) -> str:
    """A text summary of py-spy's collapsed stacks: layers, self time, inclusive time."""
    samples = 0
    by_layer: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    innermost_cxgate: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [parse_frame(f) for f in stack_text.split(";") if f]
        # py-spy puts the thread name first when asked; skip frames without a path
        frames = [f for f in frames if f.path]
        if not frames:
            continue
        samples += count
        leaf = frames[-1]
        by_layer[layer_of(leaf)] += count
        buckets[bucket_of(frames)] += count
        self_time[leaf.label] += count
        for label in {f.label for f in frames}:
            inclusive[label] += count
        for frame in reversed(frames):
            if "cxgate/" in frame.path:
                innermost_cxgate[frame.label] += count
                break
        else:
            innermost_cxgate["(no cxgate frame: server, framework, loop)"] += count
    if samples == 0:
        return "no samples"

    def table(title: str, counter: Counter[str], limit: int) -> list[str]:
        rows = [f"\n{title}", f"{'share':>7}  {'samples':>7}  what"]
        for label, count in counter.most_common(limit):
            rows.append(f"{100 * count / samples:6.1f}%  {count:7d}  {label}")
        return rows

    lines = [f"{samples} samples of the busy thread(s) (idle time excluded)"]
    lines += table("where the time goes (first matching bucket)", buckets, 20)
    lines += table("by layer of the innermost frame (self time)", by_layer, 20)
    lines += table("innermost cxgate frame on the stack", innermost_cxgate, top)
    lines += table("self time by function", self_time, top)
    lines += table("inclusive time by function", inclusive, top + 15)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="sqlite")
    parser.add_argument(
        "--server",
        choices=["cxgate", "baseline"],
        default="cxgate",
        help="profile cxgate, or the bare ASGI baseline under the same load for comparison",
    )
    parser.add_argument("--scenario", choices=list(sc.BY_NAME), default="service_storage_get")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--native", action="store_true", help="py-spy --native (C frames)")
    parser.add_argument(
        "--nonblocking",
        action="store_true",
        help="py-spy --nonblocking: no pauses, but torn (partial) stacks",
    )
    parser.add_argument("--ids", type=int, default=64)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--out", type=Path, default=PROFILES_DIR)
    parser.add_argument("--analyse", type=Path, help="only summarise an existing raw file")
    args = parser.parse_args(argv)
    if args.analyse:
        print(analyse(args.analyse))
        return 0
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("bench.profile: py-spy is missing: .venv/bin/pip install py-spy")
    wrk = ensure_wrk()
    scenario = sc.BY_NAME[args.scenario]
    args.out.mkdir(parents=True, exist_ok=True)
    ignore = args.out / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# profiles are large and machine specific\n*\n")
    who = args.backend if args.server == "cxgate" else "baseline"
    stem = f"{who}-{args.scenario}-{time.strftime('%Y%m%d-%H%M%S')}"
    raw = args.out / f"{stem}.txt"
    svg = args.out / f"{stem}.svg"

    with tempfile.TemporaryDirectory(prefix="cxgate-profile-") as tmp, ProcessSet() as procs:
        backend = make_backend(
            args.backend, Path(tmp), postgres_url=args.postgres_url, redis_url=args.redis_url
        )
        backend.reset()
        try:
            port = free_port(HOST)
            base_url = f"http://{HOST}:{port}"
            if args.server == "baseline":
                server = procs.start(
                    ManagedProcess(
                        "bare ASGI baseline",
                        [
                            sys.executable,
                            "-m",
                            "bench.baseline",
                            "--host",
                            HOST,
                            "--port",
                            str(port),
                        ],
                        Path(tmp) / "baseline.log",
                    )
                )
                wait_ready(server, base_url)
                fake = [str(uuid.uuid4()) for _ in range(args.ids)]
                fixtures = sc.Fixtures(fake, fake)
            else:
                server = procs.start(
                    ManagedProcess(
                        "cxgate",
                        [
                            str(Path(sys.executable).parent / "cxgate"),
                            "serve",
                            "--host",
                            HOST,
                            "--port",
                            str(port),
                            "--store",
                            backend.store_url,
                            "--config",
                            str(Path(cxgate.__file__).resolve().parent / "demo.toml"),
                            "--workers",
                            "1",
                            "--no-access-log",
                        ],
                        Path(tmp) / "cxgate.log",
                    )
                )
                wait_ready(server, base_url)
                fixtures = sc.prepare(base_url, args.ids)
            sc.check(base_url, scenario, fixtures)
            options = {
                "method": scenario.method,
                "paths": scenario.paths(fixtures),
                "headers": scenario.headers,
                "body": scenario.body,
                "connections": args.connections,
                "threads": args.threads,
            }
            run_wrk(wrk, base_url, duration_s=2, **options)  # warm-up
            spy_argv = [
                py_spy,
                "record",
                "--pid",
                str(server.pid),
                "--rate",
                str(args.rate),
                "--duration",
                str(round(args.duration)),
                "--format",
                "raw",
                "--output",
                str(raw),
            ]
            if args.native:
                spy_argv.append("--native")
            if args.nonblocking:
                spy_argv.append("--nonblocking")
            spy = subprocess.Popen(spy_argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                time.sleep(0.3)
                cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
                result = run_wrk(wrk, base_url, duration_s=args.duration, **options)
                cpu = 100 * (cpu_seconds(server.pid) - cpu0) / (time.monotonic() - t0)
                _, spy_err = spy.communicate(timeout=args.duration + 60)
            finally:
                if spy.poll() is None:
                    spy.kill()
                    spy.wait()
            if spy.returncode != 0:
                raise SystemExit(f"py-spy failed: {spy_err.decode(errors='replace')[-1000:]}")
        finally:
            procs.stop_all()
            backend.cleanup()
    _flamegraph(raw, svg)
    print(
        f"{who} {args.scenario}: {result.rps:.0f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms, server CPU {cpu:.0f}% of one core "
        f"= {1e4 * cpu / result.rps:.0f} µs per request "
        f"(sampled at {args.rate} Hz by py-spy, which slows it a little)"
    )
    print(f"raw stacks: {raw}\nflame graph: {svg}\n")
    print(analyse(raw))
    return 0


def _flamegraph(raw: Path, svg: Path) -> None:
    """A flame graph from the collapsed stacks, when the `flamegraph.pl` tool is around."""
    tool = shutil.which("flamegraph.pl") or shutil.which("inferno-flamegraph")
    if tool is None:
        return
    with raw.open("rb") as source, svg.open("wb") as target:
        subprocess.run([tool], stdin=source, stdout=target, check=False)


if __name__ == "__main__":
    sys.exit(main())
