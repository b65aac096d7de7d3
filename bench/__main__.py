"""`python -m bench`: cxgate under wrk, on each backend, against a bare ASGI baseline.

For each backend: empty the store, start one `cxgate serve` (1 worker, demo config, no access
log) on a free loopback port, wait for `GET /genesys/1/node` = 200, create the fixtures, then for
each scenario measure the bare ASGI app with the same request and right after it cxgate. The
baseline process runs for the whole run. Every process is stopped at the end, on error and on
Ctrl-C too. Exit status: 0 when everything asked for was measured (and, with --strict, every
target met), 1 otherwise, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import cxgate
from bench import report as reporting
from bench import scenarios as sc
from bench.servers import (
    BACKEND_COMMANDS,
    BACKEND_NAMES,
    Backend,
    BenchError,
    ManagedProcess,
    ProcessSet,
    cpu_seconds,
    cpu_seconds_by_command,
    free_port,
    machine_cpu_ticks,
    make_backend,
    store_cpu_delta,
    wait_ready,
)
from bench.wrk import WrkError, WrkResult, ensure_wrk, run_wrk, wrk_version

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_CONFIG = Path(cxgate.__file__).resolve().parent / "demo.toml"
HOST = "127.0.0.1"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Load cxgate with wrk on each backend and compare it with a bare ASGI app.",
    )
    parser.add_argument(
        "--backends",
        default=",".join(BACKEND_NAMES),
        help="comma-separated among sqlite,postgres,redis (default: all three)",
    )
    parser.add_argument(
        "--scenarios",
        default="all",
        help="comma-separated among " + ",".join(sc.BY_NAME) + " (default: all)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--ids", type=int, default=64, help="services/areas the loads cycle over")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="the bench uses (and drops) the schema bench_cxgate in it",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/14",
        help="a database index other than 0: the bench runs FLUSHDB on it",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="cxgate TOML config")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.threads < 1:
        parser.error("need --duration >= 1, --warmup >= 0, --connections >= 1, --threads >= 1")
    if args.ids < 1:
        parser.error("need --ids >= 1")
    return args


def log(message: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through every `finally`, which stops the processes


class Runner:
    def __init__(self, args: argparse.Namespace, wrk: str, procs: ProcessSet, logs: Path) -> None:
        self.args = args
        self.wrk = wrk
        self.procs = procs
        self.logs = logs
        self.cxgate_bin = _cxgate_executable()

    def load(
        self,
        base_url: str,
        scenario: sc.Scenario,
        paths: list[str],
        pid: int,
        commands: frozenset[str] = frozenset(),
    ) -> tuple[WrkResult, dict[str, float | None]]:
        """A warm-up, then the measured wrk run; returns it with CPU use during it, in % of one
        core: the server's, wrk's, and everything else on the machine (the store included)."""
        options: dict[str, Any] = {
            "method": scenario.method,
            "paths": paths,
            "headers": scenario.headers,
            "body": scenario.body,
            "connections": self.args.connections,
            "threads": self.args.threads,
        }
        if self.args.warmup >= 1:
            run_wrk(self.wrk, base_url, duration_s=self.args.warmup, **options)
        server_before, wall_before = cpu_seconds(pid), time.monotonic()
        children_before = _children_cpu()
        busy_before, total_before = machine_cpu_ticks()
        store_before = cpu_seconds_by_command(commands)
        result = run_wrk(self.wrk, base_url, duration_s=self.args.duration, **options)
        store_after = cpu_seconds_by_command(commands)
        busy_after, total_after = machine_cpu_ticks()
        wall = max(time.monotonic() - wall_before, 1e-9)
        server = 100.0 * (cpu_seconds(pid) - server_before) / wall
        wrk_cpu = 100.0 * (_children_cpu() - children_before) / wall
        cpus = os.cpu_count() or 1
        ticks = total_after - total_before
        machine = 100.0 * cpus * (busy_after - busy_before) / ticks if ticks > 0 else 0.0
        store = 100.0 * store_cpu_delta(store_before, store_after) / wall
        cpu = {
            "server_pct": round(server, 1),
            # CPU the server spent per answered request: steadier than req/s on a busy machine
            "server_us_per_request": round(1e4 * server / result.rps, 1) if result.rps else None,
            "wrk_pct": round(wrk_cpu, 1),
            "machine_pct": round(machine, 1),
            "store_pct": round(store, 1),  # this backend's postgres / redis-server processes
            "other_pct": round(max(machine - server - wrk_cpu - store, 0.0), 1),
            "machine_capacity_pct": 100.0 * cpus,
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        }
        return result, cpu

    def start_baseline(self) -> tuple[ManagedProcess, str]:
        port = free_port(HOST)
        process = self.procs.start(
            ManagedProcess(
                "bare ASGI baseline",
                [sys.executable, "-m", "bench.baseline", "--host", HOST, "--port", str(port)],
                self.logs / "baseline.log",
            )
        )
        base_url = f"http://{HOST}:{port}"
        wait_ready(process, base_url, timeout_s=30)
        return process, base_url

    def run_backend(
        self,
        backend: Backend,
        chosen: list[sc.Scenario],
        baseline: tuple[ManagedProcess, str],
        out: dict[str, Any],
    ) -> None:
        backend.reset()
        port = free_port(HOST)
        process = self.procs.start(
            ManagedProcess(
                f"cxgate ({backend.name})",
                [
                    self.cxgate_bin,
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(port),
                    "--store",
                    backend.store_url,
                    "--config",
                    str(self.args.config),
                    "--workers",
                    "1",
                    "--no-access-log",
                ],
                self.logs / f"cxgate-{backend.name}.log",
            )
        )
        try:
            base_url = f"http://{HOST}:{port}"
            wait_ready(process, base_url)
            out["server_pid"] = process.pid
            log(f"{backend.name}: cxgate pid {process.pid} ready on {base_url}; preparing data")
            fixtures = sc.prepare(base_url, self.args.ids)
            baseline_proc, baseline_url = baseline
            for scenario in chosen:
                sc.check(base_url, scenario, fixtures)
                paths = scenario.paths(fixtures)
                # The previous scenario's writes may still keep the server busy (SQLite's
                # checkpoint thread copying the WAL): that CPU belongs to them, not to this one.
                settled_s = settle([process.pid], BACKEND_COMMANDS[backend.name])
                measured_at = now_iso()
                bare, bare_cpu = self.load(
                    baseline_url, scenario, paths, baseline_proc.pid, BACKEND_COMMANDS[backend.name]
                )
                result, cpu = self.load(
                    base_url, scenario, paths, process.pid, BACKEND_COMMANDS[backend.name]
                )
                if not process.running():
                    raise BenchError("cxgate died under load:\n" + process.log_tail())
                ratio = result.rps / bare.rps if bare.rps > 0 else 0.0
                met = ratio >= scenario.target and result.error_count == 0
                out["scenarios"][scenario.name] = {
                    "title": scenario.title,
                    "method": scenario.method,
                    "path": scenario.path_example,
                    "measured_at": measured_at,
                    "rps": result.rps,
                    "p50_ms": result.p50_ms,
                    "p99_ms": result.p99_ms,
                    "ratio": round(ratio, 4),
                    "target": scenario.target,
                    "met": met,
                    "errors_total": result.error_count,
                    "settled_s": settled_s,
                    # bare CPU per request / cxgate CPU per request: what the ratio would be
                    # were both servers CPU bound on a core of their own
                    "cpu_cost_ratio": _cost_ratio(bare_cpu, cpu),
                    # another job took more than NOISY_PCT of a core during either run
                    "noisy": max(cpu["other_pct"] or 0.0, bare_cpu["other_pct"] or 0.0) > NOISY_PCT,
                    "server_cpu_pct": cpu["server_pct"],
                    "cpu": cpu,
                    "wrk": result.as_dict(),
                    "baseline": {
                        "rps": bare.rps,
                        "p50_ms": bare.p50_ms,
                        "p99_ms": bare.p99_ms,
                        "server_cpu_pct": bare_cpu["server_pct"],
                        "cpu": bare_cpu,
                        "wrk": bare.as_dict(),
                    },
                }
                log(
                    f"{backend.name:8} {scenario.name:22} {result.rps:9.1f} req/s "
                    f"p50 {result.p50_ms:7.2f} ms p99 {result.p99_ms:7.2f} ms | bare "
                    f"{bare.rps:9.1f} req/s | ratio {ratio:.3f} (target {scenario.target:.2f}) "
                    f"{'met' if met else 'MISSED'}"
                    + f" | CPU % cxgate {cpu['server_pct']:.0f} wrk {cpu['wrk_pct']:.0f} "
                    f"store {cpu['store_pct']:.0f} other {cpu['other_pct']:.0f}"
                    + (f" [{result.error_count} errors]" if result.error_count else "")
                )
            out["status"] = "ok"
        finally:
            self.procs.stop(process)


NOISY_PCT = 30.0


SETTLE_IDLE_PCT = 5.0  # % of one core below which a process counts as idle
SETTLE_STEP_S = 0.25
SETTLE_MAX_S = 30.0


def settle(pids: list[int], commands: frozenset[str]) -> float:
    """Wait until the server and the store's processes are idle (each under SETTLE_IDLE_PCT of
    a core over SETTLE_STEP_S), at most SETTLE_MAX_S; return the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_MAX_S:
        before = [cpu_seconds(pid) for pid in pids]
        store_before = cpu_seconds_by_command(commands)
        time.sleep(SETTLE_STEP_S)
        busiest = max(
            [cpu_seconds(pid) - b for pid, b in zip(pids, before, strict=True)]
            + [store_cpu_delta(store_before, cpu_seconds_by_command(commands))]
        )
        if 100.0 * busiest / SETTLE_STEP_S < SETTLE_IDLE_PCT:
            break
    return round(time.monotonic() - started, 2)


def _cost_ratio(bare: dict[str, float | None], cxgate: dict[str, float | None]) -> float | None:
    bare_us, cxgate_us = bare["server_us_per_request"], cxgate["server_us_per_request"]
    if not bare_us or not cxgate_us:
        return None
    return round(bare_us / cxgate_us, 4)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once reaped
    return usage.ru_utime + usage.ru_stime


def _cxgate_executable() -> str:
    beside = Path(sys.executable).parent / "cxgate"
    if beside.exists():
        return str(beside)
    raise SystemExit(f"bench: no cxgate executable beside {sys.executable}; run `make install`")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for s in sc.SCENARIOS:
            print(f"{s.name:22} {s.method:4} {s.path_example:45} target {s.target:.2f}")
        return 0
    chosen = sc.select(args.scenarios)
    backend_names = [b.strip() for b in args.backends.split(",") if b.strip()]
    for name in backend_names:
        if name not in BACKEND_NAMES:
            raise SystemExit(f"bench: unknown backend {name!r}; use {','.join(BACKEND_NAMES)}")
    if not args.config.is_file():
        raise SystemExit(f"bench: no config file at {args.config}")
    wrk = ensure_wrk()
    signal.signal(signal.SIGTERM, _sigterm)

    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "schema_version": reporting.SCHEMA_VERSION,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": None,
        "interrupted": False,
        "machine": reporting.machine_info(wrk_version(wrk)),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "ids": args.ids,
            "workers": 1,
            "config": str(args.config),
            "backends": backend_names,
            "scenarios": [s.name for s in chosen],
        },
        "targets": {s.name: s.target for s in chosen},
        "scenario_definitions": [
            {
                "name": s.name,
                "title": s.title,
                "method": s.method,
                "path_example": s.path_example,
                "body": s.body,
                "target": s.target,
            }
            for s in chosen
        ],
        "backends": {},
        "summary": None,
    }
    failed = False
    exit_code = 0
    with tempfile.TemporaryDirectory(prefix="cxgate-bench-") as tmp, ProcessSet() as procs:
        runner = Runner(args, wrk, procs, Path(tmp))
        try:
            baseline = runner.start_baseline()
            log(f"bare ASGI baseline pid {baseline[0].pid} ready on {baseline[1]}")
            for name in backend_names:
                out: dict[str, Any] = {"status": "error", "error": None, "scenarios": {}}
                report["backends"][name] = out
                backend: Backend | None = None
                try:
                    backend = make_backend(
                        name,
                        Path(tmp),
                        postgres_url=args.postgres_url,
                        redis_url=args.redis_url,
                    )
                    out["store"] = backend.store_url
                    runner.run_backend(backend, chosen, baseline, out)
                except (BenchError, WrkError) as exc:
                    failed = True
                    out["status"] = "unavailable" if not out["scenarios"] else "error"
                    out["error"] = str(exc)
                    log(f"{name}: {exc}")
                finally:
                    if backend is not None:
                        try:
                            backend.cleanup()
                        except BenchError as exc:
                            log(f"{name}: cleanup failed: {exc}")
        except KeyboardInterrupt:
            report["interrupted"] = True
            exit_code = 130
            log("interrupted: stopping the servers")
        except BenchError as exc:
            failed = True
            log(str(exc))
        finally:
            procs.stop_all()
    report["finished_at"] = now_iso()
    report["summary"] = reporting.summarize(report)
    written = reporting.write_results(report, args.results_dir, started)
    print(reporting.render_markdown(report))
    log("results: " + ", ".join(str(p) for p in written))
    if exit_code:
        return exit_code
    if failed:
        return 1
    if args.strict and report["summary"]["missed"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
