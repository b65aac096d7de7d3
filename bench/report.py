"""The results: `latest.json` (machine readable), `latest.md` (a table) and dated copies."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.servers import REPO_ROOT

SCHEMA_VERSION = 1
PACKAGES = ("cxgate", "uvicorn", "uvloop", "httptools", "starlette", "orjson", "asyncpg", "redis")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def _cxgate_source() -> str | None:
    """Where the servers import cxgate from (the work tree, or a PYTHONPATH override)."""
    try:
        import cxgate
    except ImportError:
        return None
    return str(Path(cxgate.__file__).resolve().parent)


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_info(wrk_version: str) -> dict[str, Any]:
    return {
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "wrk": wrk_version,
        "packages": _versions(),
        "git_commit": _git_commit(),
        "cxgate_source": _cxgate_source(),
    }


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def summarize(report: dict[str, Any]) -> dict[str, int]:
    counts = {"met": 0, "missed": 0, "not_measured": 0}
    for backend in report["backends"].values():
        for name in report["settings"]["scenarios"]:
            result = backend["scenarios"].get(name)
            if result is None or result.get("ratio") is None:
                counts["not_measured"] += 1
            elif result["met"]:
                counts["met"] += 1
            else:
                counts["missed"] += 1
    return counts


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def render_markdown(report: dict[str, Any]) -> str:
    settings = report["settings"]
    machine = report["machine"]
    lines = [
        "# cxgate benchmark",
        "",
        f"Run {report['started_at']} → {report['finished_at']} (UTC), "
        f"commit `{(machine.get('git_commit') or 'unknown')[:12]}`.",
        "",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"{machine.get('memory_gib')} GiB, Python {machine['python']}, {machine['wrk']}.",
        f"Load: wrk, {settings['connections']} connections, {settings['threads']} threads, "
        f"{settings['duration_s']} s per measurement after a {settings['warmup_s']} s warm-up; "
        f"server: 1 uvicorn worker (uvloop, httptools, no access log). "
        f"Reads and updates cycle over {settings['ids']} ids.",
        "",
        "The ratio is cxgate's requests/s divided by the bare ASGI app's on the same request "
        "(same method, body and paths), measured just before it. Target met: ratio ≥ target "
        "and no error responses. CPU is in % of one core during cxgate's measurement "
        "(200 = both cores); *store* is the postgres (or redis-server) processes of that "
        "backend (any other client of theirs counts too), *other* everything else on the "
        "machine (the kernel's loopback work, other jobs). "
        "CPU µs/req is the server's CPU time per answered request, cxgate's and (in "
        "brackets) the bare app's: it moves less than req/s when the machine is busy; the "
        "CPU-cost ratio (bare µs ÷ cxgate µs) is what the ratio would be if each server had a "
        "core to itself. *(noisy)*: other jobs used more than 30% of a core during the "
        "cxgate or the baseline run, so the ratio is less trustworthy.",
        "",
        "| backend | scenario | req/s | p50 ms | p99 ms | bare ASGI req/s | bare p99 ms "
        "| ratio | target | met | CPU % cxgate / wrk / store / other | CPU µs/req (bare) "
        "| CPU-cost ratio |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|:-:|--:|--:|--:|",
    ]
    notes: list[str] = []
    for backend_name, backend in report["backends"].items():
        if backend["status"] != "ok" and not backend["scenarios"]:
            lines.append(
                f"| {backend_name} | *not measured: {backend['status']}* "
                "| - | - | - | - | - | - | - | - | - | - | - |"
            )
        for name in settings["scenarios"]:
            result = backend["scenarios"].get(name)
            if result is None:
                continue
            base = result.get("baseline") or {}
            met = "-" if result.get("ratio") is None else ("met" if result["met"] else "**missed**")
            errors = result.get("errors_total") or 0
            if errors:
                met += f" ({errors} errors)"
            if result.get("noisy"):
                met += " (noisy)"
            cpu = result.get("cpu") or {}
            cpu_text = (
                f"{cpu['server_pct']:.0f} / {cpu['wrk_pct']:.0f} / "
                f"{cpu.get('store_pct', 0):.0f} / {cpu['other_pct']:.0f}"
                if cpu
                else "-"
            )
            lines.append(
                f"| {backend_name} | {result['title']} | {_num(result.get('rps'))} "
                f"| {_num(result.get('p50_ms'), 2)} | {_num(result.get('p99_ms'), 2)} "
                f"| {_num(base.get('rps'))} | {_num(base.get('p99_ms'), 2)} "
                f"| {_num(result.get('ratio'), 3)} | {result['target']:.2f} | {met} "
                f"| {cpu_text} | {_us(cpu)} ({_us(base.get('cpu') or {})}) "
                f"| {_num(result.get('cpu_cost_ratio'), 3)} |"
            )
        if backend.get("error"):
            notes.append(f"- **{backend_name}** ({backend['status']}): {backend['error']}")
    summary = report.get("summary") or summarize(report)
    lines += [
        "",
        f"**{summary['met']} met, {summary['missed']} missed, "
        f"{summary['not_measured']} not measured.**",
    ]
    if notes:
        lines += ["", "Problems:", "", *(_one_line(note) for note in notes)]
    lines += [
        "",
        "Requests: "
        + ", ".join(
            f"{s['title']} = `{s['method']} {s['path_example']}`"
            for s in report["scenario_definitions"]
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def _us(cpu: dict[str, Any]) -> str:
    value = cpu.get("server_us_per_request")
    return "-" if value is None else f"{value:.0f}"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:1500]


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")  # bench/results/*.tmp is git-ignored
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_results(report: dict[str, Any], results_dir: Path, stamp: datetime) -> list[Path]:
    """latest.json, latest.md and copies named after the run's date and time (UTC)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / ".gitkeep").touch(exist_ok=True)
    as_json = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    as_md = render_markdown(report)
    name = "bench-" + stamp.strftime("%Y-%m-%d_%H%M%S")
    written = []
    for path, text in (
        (results_dir / "latest.json", as_json),
        (results_dir / "latest.md", as_md),
        (results_dir / f"{name}.json", as_json),
        (results_dir / f"{name}.md", as_md),
    ):
        _write(path, text)
        written.append(path)
    return written
