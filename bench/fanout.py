"""`python -m bench.fanout`: how long one state change takes to reach N CometD subscribers.

For each transport (websocket, long-polling) and each N (1,000 and 10,000 by default): start one
`cxgate serve` (one worker, `--no-access-log`, SQLite, loopback), connect N subscribers to
`/notifications/services` from this process (`bench/fanout_clients.py`: one asyncio protocol
per client, uvloop), wait until the server is idle, then switch maintenance through the API
(`POST /genesys/1/admin/maintenance`, on, off, on: one `ServiceStateChangeMessage` each) and time
each subscriber's delivery from just before the POST: p50, p99 and max over the subscribers. The
server's RSS comes from `/proc/<pid>/status` (VmRSS when subscribed, VmHWM for the peak).

Targets (issue 4), for 10,000 websocket subscribers on one worker: p99 under 1 s and RSS under
1 GiB; the other runs are reported against the same figures for reference. Results go to
`bench/results/fanout.json` and `bench/results/fanout.md`. Exit status 0 when every run
completed (with `--strict`: and the targets were met), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench.fanout_clients import (
    Subscriber,
    SubscriberError,
    Tally,
    close_all,
    post_json,
    subscribe_all,
)
from bench.servers import BenchError, ManagedProcess, ProcessSet, cpu_seconds, free_port, wait_ready

RESULTS_DIR = Path(__file__).resolve().parent / "results"
HOST = "127.0.0.1"
PATH = "/genesys/cometd"
MAINTENANCE = "/genesys/1/admin/maintenance"
TARGET_TRANSPORT, TARGET_SUBSCRIBERS = "websocket", 10_000
TARGET_P99_MS = 1000.0
TARGET_RSS_MIB = 1024.0
# Probes far apart, so that nothing but the change under test runs during a round; held connects
# long enough that none is renewed by its timeout during a run (that would be background load).
CONFIG = """
[status]
interval = 3600

[cometd]
timeout_ms = 600000
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--transports", default="websocket,long-polling")
    parser.add_argument("--subscribers", default="1000,10000", help="comma-separated counts")
    parser.add_argument("--rounds", type=int, default=3, help="state changes timed per run")
    parser.add_argument("--concurrency", type=int, default=200, help="clients setting up at once")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--py-spy", type=Path, default=None, help="record each round's server stacks into DIR"
    )
    return parser.parse_args(argv)


def raise_fd_limit(needed: int) -> int:
    """Lift RLIMIT_NOFILE for this process and the server it starts (inherited); the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return needed
        except (ValueError, OSError):
            pass  # not root: the soft limit can still go up to the hard one
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard if hard != resource.RLIM_INFINITY else soft


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


async def settle(
    pid: int, *, quiet: float = 0.02, window: float = 0.5, limit: float = 60.0
) -> None:
    """Until the server used under `quiet` of a core over `window` seconds (at most `limit`)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(window)
        if cpu_seconds(pid) - before < quiet * window:
            return


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted `values`."""
    rank = max(1, math.ceil(fraction * len(values)))
    return values[rank - 1]


async def timed_round(
    clients: list[Subscriber],
    tally: Tally,
    index: int,
    *,
    port: int,
    pid: int,
    read_only: bool,
    spy: Path | None,
) -> dict[str, Any]:
    await settle(pid)
    recorder = _py_spy(pid, spy) if spy is not None else None
    tally.expect(len(clients) * (index + 1))
    cpu_server, cpu_client = cpu_seconds(pid), time.process_time()
    start = time.monotonic()
    status, body = await post_json(HOST, port, MAINTENANCE, {"read_only": read_only})
    answered = time.monotonic() - start
    if status != 200:
        raise BenchError(f"maintenance switch answered {status}: {body[:200]!r}")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(tally.complete.wait(), 60)
    latencies = sorted(
        (c.received[index] - start) * 1000 for c in clients if len(c.received) > index
    )
    cpu_server, cpu_client = cpu_seconds(pid) - cpu_server, time.process_time() - cpu_client
    if recorder is not None:
        _stop(recorder)
    missing = len(clients) - len(latencies)
    figures: dict[str, Any] = {
        "read_only": read_only,
        "delivered": len(latencies),
        "missing": missing,
        "post_ms": round(answered * 1000, 1),
        "server_cpu_ms": round(cpu_server * 1000, 1),
        "client_cpu_ms": round(cpu_client * 1000, 1),
    }
    if latencies:
        figures |= {
            "min_ms": round(latencies[0], 1),
            "p50_ms": round(percentile(latencies, 0.50), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1),
            "max_ms": round(latencies[-1], 1),
        }
    return figures


def _py_spy(pid: int, directory: Path) -> subprocess.Popen[bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    output = directory / f"fanout-{pid}-{time.time_ns()}.txt"
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    process = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "-o", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # let it attach
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)  # py-spy writes its output and exits
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def run_one(
    transport: str, count: int, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    port = free_port(HOST)
    config = workdir / "fanout.toml"
    config.write_text(CONFIG)
    cxgate = str(Path(sys.executable).parent / "cxgate")
    command = [cxgate, "serve", "--host", HOST, "--port", str(port), "--workers", "1"]
    command += ["--no-access-log", "--log-level", "warning", "--config", str(config)]
    command += ["--store", f"sqlite:///{workdir}/fanout-{port}.db"]
    result: dict[str, Any] = {"transport": transport, "subscribers": count}
    with ProcessSet() as processes:
        server = processes.start(ManagedProcess("cxgate", command, workdir / f"cxgate-{port}.log"))
        wait_ready(server, f"http://{HOST}:{port}")
        result["rss_mib_empty"] = round(memory_kib(server.pid)["VmRSS"] / 1024, 1)
        began = time.monotonic()
        tally = Tally()
        clients = await subscribe_all(
            transport,
            count,
            host=HOST,
            port=port,
            path=PATH,
            concurrency=args.concurrency,
            tally=tally,
        )
        try:
            result["setup_s"] = round(time.monotonic() - began, 1)
            await settle(server.pid)
            result["rss_mib_subscribed"] = round(memory_kib(server.pid)["VmRSS"] / 1024, 1)
            rounds = []
            for index in range(args.rounds):
                rounds.append(
                    await timed_round(
                        clients,
                        tally,
                        index,
                        port=port,
                        pid=server.pid,
                        read_only=index % 2 == 0,
                        spy=args.py_spy,
                    )
                )
                print(
                    f"  {transport} x {count}, round {index + 1}: {_brief(rounds[-1])}", flush=True
                )
            result["rounds"] = rounds
            result["rss_mib_peak"] = round(memory_kib(server.pid)["VmHWM"] / 1024, 1)
        finally:
            close_all(clients)
    return result | _summary(result)


def _brief(figures: dict[str, Any]) -> str:
    keys = ("p50_ms", "p99_ms", "max_ms", "missing", "server_cpu_ms")
    return ", ".join(f"{key} {figures.get(key)}" for key in keys)


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """The worst round's figures, and whether they meet the targets."""
    rounds = result["rounds"]
    worst = {
        key: max(r.get(key, float("inf")) for r in rounds) for key in ("p50_ms", "p99_ms", "max_ms")
    }
    missing = sum(r["missing"] for r in rounds)
    met = (
        missing == 0 and worst["p99_ms"] < TARGET_P99_MS and result["rss_mib_peak"] < TARGET_RSS_MIB
    )
    targeted = (result["transport"], result["subscribers"]) == (
        TARGET_TRANSPORT,
        TARGET_SUBSCRIBERS,
    )
    return worst | {"missing": missing, "met": met, "targeted": targeted}


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "git_commit": commit or None,
        "loadavg_at_start": os.getloadavg(),
    }


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# CometD fan-out",
        "",
        f"Run {report['started']} on {report['machine']['nproc']} x {report['machine']['cpu']};"
        " one `cxgate serve` worker, subscribers in a separate process on loopback. Latency:"
        " from just before `POST /genesys/1/admin/maintenance` to each subscriber's receipt of"
        " the `ServiceStateChangeMessage`; each figure the worst of"
        f" {report['settings']['rounds']} rounds. Load average at the start:"
        f" {report['machine']['loadavg_at_start'][0]:.2f} (other jobs on the machine slow every"
        f" figure). Targets: p99 < {TARGET_P99_MS:.0f} ms and"
        f" RSS < {TARGET_RSS_MIB:.0f} MiB for {TARGET_SUBSCRIBERS:,} {TARGET_TRANSPORT}"
        " subscribers.",
        "",
        "| transport | subscribers | p50 ms | p99 ms | max ms | missing | server CPU ms "
        "| RSS MiB subscribed | RSS MiB peak | setup s | target |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for run in report["runs"]:
        if "error" in run:
            error = " ".join(run["error"].split())[-300:].replace("|", "/")
            lines.append(f"| {run['transport']} | {run['subscribers']:,} | failed: {error} |")
            continue
        cpu = max(r["server_cpu_ms"] for r in run["rounds"])
        verdict = ("met" if run["met"] else "MISSED") if run["targeted"] else "(reference)"
        lines.append(
            f"| {run['transport']} | {run['subscribers']:,} | {run['p50_ms']:.0f} "
            f"| {run['p99_ms']:.0f} | {run['max_ms']:.0f} | {run['missing']} | {cpu:.0f} "
            f"| {run['rss_mib_subscribed']:.0f} | {run['rss_mib_peak']:.0f} "
            f"| {run['setup_s']:.1f} | {verdict} |"
        )
    lines += [
        "",
        "Server CPU ms: the server's CPU time from the POST until the last delivery (worst round).",
        "Every round: `bench/results/fanout.json`.",
        "",
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(n) for n in args.subscribers.split(",")]
    transports = args.transports.split(",")
    limit = raise_fd_limit(max(counts) + 1024)
    report: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "settings": {
            "rounds": args.rounds,
            "concurrency": args.concurrency,
            "nofile": limit,
            "path": PATH,
            "config": CONFIG.strip(),
        },
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="cxgate-fanout-") as workdir:
        for transport in transports:
            for count in counts:
                print(f"{transport} x {count}: subscribing", flush=True)
                try:
                    run = await run_one(transport, count, args, Path(workdir))
                except (BenchError, SubscriberError, OSError, TimeoutError) as exc:
                    error = str(exc) or type(exc).__name__
                    run = {"transport": transport, "subscribers": count, "error": error}
                    print(f"  failed: {error}", flush=True)
                report["runs"].append(run)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = uvloop.run(main_async(args))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "fanout.json").write_bytes(
        orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n"
    )
    markdown = render_markdown(report)
    (args.results_dir / "fanout.md").write_text(markdown)
    print(markdown)
    failed = any("error" in run for run in report["runs"])
    missed = any(run.get("targeted") and not run.get("met") for run in report["runs"])
    return 1 if failed or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
