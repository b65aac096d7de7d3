"""The soak report: `soak.json` (everything), `soak.md` (the figures) and `soak.png` (the plot).

Needs matplotlib (the `bench` extra: `pip install -e '.[bench]'`); `bench.soak` says so when it
is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import orjson

CRITERIA_TEXT = {
    "zero_errors": "no request failed (every answer 2xx)",
    "rss_flat_after_warmup": "RSS after the warm-up grew by at most 10 %",
    "rows_back_to_baseline": "stored rows came back to the baseline once the TTLs ran out",
    "server_stayed_up": "the server process stayed up",
}


def write(report: dict[str, Any], results_dir: Path) -> list[Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = [results_dir / "soak.json", results_dir / "soak.md", results_dir / "soak.png"]
    paths[0].write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    paths[1].write_text(render_markdown(report), encoding="utf-8")
    plot(report, paths[2])
    return paths


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def render_markdown(report: dict[str, Any]) -> str:
    settings, summary = report["settings"], report["summary"]
    journeys = ", ".join(f"{name} x{weight}" for name, weight in settings["journeys"].items())
    lines = [
        "# Soak report",
        "",
        f"Generated {report['generated_at']} by `make soak` (`python -m bench.soak`). "
        f"Verdict: **{'PASSED' if report['passed'] else 'FAILED'}**.",
        "",
        f"One `cxgate serve` (1 worker) on {settings['store']}, "
        f"{settings['minutes']:g} min of load offered at {settings['rate']:g} requests/s by "
        f"{settings['concurrency']} concurrent journeys ({journeys}; Context Services "
        f"{'included' if settings['context_services'] else 'absent'}), TTLs of "
        f"{settings['ttl_range_s'][0]}-{settings['ttl_range_s'][1]} s, sweeps every "
        f"{settings['sweep_interval_s']:g} s, a sample every {settings['interval_s']:g} s, "
        f"warm-up {settings['warmup_s']:g} s.",
        "",
        "| criterion | result |",
        "| --- | --- |",
    ]
    for name, passed in report["criteria"].items():
        lines.append(f"| {CRITERIA_TEXT.get(name, name)} | {'pass' if passed else 'FAIL'} |")
    lines += [
        "",
        "| figure | value |",
        "| --- | --: |",
        f"| requests | {summary['requests']} |",
        f"| errors | {summary['errors']} |",
        f"| mean throughput | {_fmt(summary['mean_throughput'], ' req/s')} |",
        f"| p99 latency, median of the windows | {_fmt(summary['median_p99_ms'], ' ms')} |",
        f"| p99 latency, worst window | {_fmt(summary['worst_p99_ms'], ' ms')} |",
        f"| RSS at the end of the warm-up | {_fmt(summary['rss_at_warmup_mib'], ' MiB')} |",
        f"| RSS, highest after the warm-up | {_fmt(summary['rss_max_after_warmup_mib'], ' MiB')} |",
        f"| RSS growth after the warm-up | {summary['rss_growth_after_warmup'] * 100:.1f} % |",
        f"| stored rows: baseline / peak / end | {summary['rows_baseline']} / "
        f"{summary['rows_peak']} / {summary['rows_end']} |",
        f"| back to baseline after the load stopped | {_fmt(summary['drained_after_s'], ' s')} |",
        "",
        "![soak plot](soak.png)",
        "",
        "| t (s) | phase | req/s | errors | p99 (ms) | RSS (MiB) | rows |",
        "| --: | --- | --: | --: | --: | --: | --: |",
    ]
    for s in report["samples"]:
        lines.append(
            f"| {s['t']:.0f} | {s['phase']} | {s['throughput']:.1f} | {s['errors']} | "
            f"{_fmt(s['p99_ms'])} | {s['rss_mib']:.1f} | {s['rows']} |"
        )
    if summary["error_examples"]:
        lines += ["", "First errors:", ""]
        lines += [f"- `{example}`" for example in summary["error_examples"]]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    samples = report["samples"]
    settings, summary = report["settings"], report["summary"]
    t = [s["t"] for s in samples]
    load_end = max((s["t"] for s in samples if s["phase"] == "load"), default=0.0)
    figure, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    verdict = "PASSED" if report["passed"] else "FAILED"
    figure.suptitle(
        f"cxgate soak: {settings['minutes']:g} min at {settings['rate']:g} req/s offered "
        f"on {settings['store']}: {verdict}",
        fontsize=13,
    )
    for ax in axes:
        ax.axvspan(0, settings["warmup_s"], color="0.92", label="warm-up")
        ax.axvspan(load_end, max(t[-1], load_end), color="#fdebd0", label="drain (no load)")
        ax.grid(True, alpha=0.3)

    ax = axes[0]
    ax.plot(t, [s["throughput"] for s in samples], marker="o", color="tab:blue", label="req/s")
    ax.set_ylabel("throughput (req/s)")
    errors_ax = ax.twinx()
    errors_ax.bar(t, [s["errors"] for s in samples], width=3, color="tab:red", label="errors")
    errors_ax.set_ylabel("errors per sample", color="tab:red")
    errors_ax.set_ylim(0, max(1, *(s["errors"] for s in samples)) * 1.2)
    ax.set_title(f"throughput, errors (total {summary['errors']})", fontsize=10, loc="left")

    ax = axes[1]
    ax.plot(t, [s["p99_ms"] for s in samples], marker="o", color="tab:purple")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title("p99 latency per sample window", fontsize=10, loc="left")

    ax = axes[2]
    ax.plot(t, [s["rss_mib"] for s in samples], marker="o", color="tab:green", label="RSS")
    reference = summary["rss_at_warmup_mib"]
    ax.axhline(reference * 1.10, color="tab:green", linestyle="--", label="warm-up RSS + 10 %")
    ax.set_ylabel("server RSS (MiB)")
    ax.set_ylim(0, max(s["rss_mib"] for s in samples) * 1.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(
        f"RSS: growth after warm-up {summary['rss_growth_after_warmup'] * 100:.1f} %",
        fontsize=10,
        loc="left",
    )

    ax = axes[3]
    ax.plot(t, [s["rows"] for s in samples], marker="o", color="tab:orange", label="rows")
    ax.axhline(summary["rows_baseline"], color="black", linestyle=":", label="baseline")
    ax.set_ylabel("stored rows")
    ax.set_xlabel("seconds since the load started")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("rows in the SQLite store (expired data swept)", fontsize=10, loc="left")

    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles[:2], labels[:2], loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
