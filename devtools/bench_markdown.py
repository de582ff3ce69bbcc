"""The benchmark's tables: the report of every farm size as markdown, and the targets."""

from __future__ import annotations

import platform
from typing import Any

from homeassistant.const import __version__ as HA_VERSION  # noqa: N812

# The targets, checked at this farm size (or at every size, where None).
TARGET_SIZE = 100
TARGET_P99_MS = 50.0
TARGET_CPU_MS = 0.2
TARGET_SETUP_S = 5.0
TARGET_BUDGET_SHARE = 0.5


def rss_slope(runs: list[dict[str, Any]]) -> float | None:
    """Return the least-squares slope of Home Assistant's RSS over printers (KiB/printer)."""
    points = [(float(r["printers"]), float(r["memory"]["rss_mib"]) * 1024) for r in runs]
    if len({x for x, _ in points}) < 2:  # noqa: PLR2004
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    den = sum((x - mean_x) ** 2 for x, _ in points)
    return round(num / den, 1)


def targets(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the issue's targets with what was measured and whether each was met."""
    checks: list[dict[str, Any]] = []
    at_target = [r for r in runs if r["printers"] == TARGET_SIZE]
    for run in at_target:
        p99 = run["latency_ms"]["p99"]
        setup = run["setup"]["all_states_s"]
        checks += [
            _check(
                "p99 push latency at 100 printers < 50 ms",
                p99,
                p99 is not None and p99 < TARGET_P99_MS,
            ),
            _check("setup of a 100-printer farm < 5 s", setup, setup < TARGET_SETUP_S),
        ]
    for run in (r for r in runs if r["printers"]):
        size = run["printers"]
        cpu = run["cpu"]["ms_per_message"]
        share = run["api"]["planned_share_of_limit"]
        rate_limited = run["api"]["rate_limited_429"]
        checks += [
            _check(
                f"CPU per message < 0.2 ms ({size})", cpu, cpu is not None and cpu < TARGET_CPU_MS
            ),
            _check(
                f"API use <= half the budget, planned ({size})",
                share,
                share is not None and share <= TARGET_BUDGET_SHARE,
            ),
            _check(f"no 429 answers ({size})", rate_limited, rate_limited == 0),
        ]
    return checks


def _check(name: str, measured: Any, met: bool) -> dict[str, Any]:  # noqa: FBT001
    return {"target": name, "measured": measured, "met": bool(met)}


def _fmt(value: Any, digits: int = 1) -> str:
    """Return a number for a table cell."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _row(*cells: Any) -> str:
    """Return a markdown table row."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _header(*names: str) -> list[str]:
    """Return a markdown table's header: the first column left, the others right."""
    return [_row(*names), _row(*(["---"] + ["---:"] * (len(names) - 1)))]


def _service(options: dict[str, Any]) -> str:
    """Return the farm service of a report and its budget."""
    if options.get("service") == "printago":
        return "Printago with its realtime feed (one connection), budget 60/min and 600/h"
    return (
        f"AutoPrintFarm with a Bambu LAN connection per printer, budget "
        f"{options['rate_limit']} requests/h"
    )


def render_markdown(report: dict[str, Any]) -> str:
    """Return the report as markdown: the machine, three tables, memory and targets."""
    runs: list[dict[str, Any]] = report["runs"]
    options = report["options"]
    box = report["machine"]
    lines = [
        "## printfarm benchmark",
        "",
        (
            f"Machine: {box['cpu_model']}, {box['cpus']} cores, {box['memory_gib']} GiB RAM, "
            f"Linux {box['kernel']}; Home Assistant {HA_VERSION} on Python "
            f"{platform.python_version()}. farmsim: time x{options['time_scale']:g}, a report "
            f"every {options['report_interval']:g} s per printer, every printer printing; "
            f"window {options['seconds']:g} s (+ {options['quiet_seconds']:g} s without "
            f"subscriber); {_service(options)}. {report['generated']}."
        ),
        "",
        "Push path: printer report to Home Assistant's `state_changed`.",
        "",
        *_header(
            "Printers",
            "Reports/s",
            "Latency p50 / p95 / p99 (ms)",
            "Max (ms)",
            "p99 outside GC pauses (ms)",
            "HA GC pauses >= 20 ms (longest, ms)",
            "Staleness mean / max (s)",
        ),
    ]
    for run in runs:
        lat = run["latency_ms"]
        gc = run["hass_gc"]
        push = run["push_staleness_s"]
        lines.append(
            _row(
                run["printers"],
                _fmt(run["messages"]["per_second"]),
                f"{_fmt(lat['p50'])} / {_fmt(lat['p95'])} / {_fmt(lat['p99'])}",
                _fmt(lat["max"], 0),
                _fmt(gc["latency_ms_outside_long_pauses"]["p99"]),
                f"{gc['pauses_over_20ms']} ({_fmt(gc['max_pause_ms'], 0)})"
                if gc["logged"]
                else "-",
                f"{_fmt(push['mean'], 2)} / {_fmt(push['max'], 2)}",
            )
        )
    lines += [
        "",
        "Home Assistant process: CPU (utime + stime of its process), state writes, memory, setup.",
        "",
        *_header(
            "Printers",
            "CPU per report (ms)",
            "with a subscriber (ms)",
            "CPU (% of a core)",
            "State writes per report",
            "Unchanged writes",
            "RSS (MiB)",
            "Setup: loaded / all states (s)",
            "Adding the printers (s)",
        ),
    ]
    for run in runs:
        cpu = run["cpu"]
        setup = run["setup"]
        lines.append(
            _row(
                run["printers"],
                _fmt(cpu["ms_per_message"], 3),
                _fmt(cpu["ms_per_message_subscribed"], 3),
                _fmt(cpu["percent"]),
                _fmt(run["state_writes"]["per_message"], 2),
                run["state_writes"]["unchanged_entities"],
                _fmt(run["memory"]["rss_mib"]),
                f"{_fmt(setup['reload_loaded_s'], 2)} / {_fmt(setup['all_states_s'], 2)}",
                _fmt(setup["add_printers_s"], 0),
            )
        )
    lines += [
        "",
        "Farm API and a poller reading the AutoPrintFarm printer list for comparison.",
        "",
        *_header(
            "Printers",
            "Planned refresh (s)",
            "Planned requests/h",
            "Requests in the windows",
            "429s",
            "Poller requests/h",
            "Poller 429s/h",
            "Poller staleness mean / max (s)",
        ),
    ]
    for run in runs:
        api = run["api"]
        poll = run["polling"] or {
            "requests_per_hour": None,
            "projected_429_per_hour": None,
            "staleness_s": {"mean": None, "max": None},
        }
        polled = poll["staleness_s"]
        lines.append(
            _row(
                run["printers"],
                _fmt(api["refresh_interval_s"], 0),
                _fmt(api["planned_per_hour"]),
                f"{api['measured_requests']} in {_fmt(api['measured_span_s'], 0)} s",
                api["rate_limited_429"],
                _fmt(poll["requests_per_hour"], 0),
                _fmt(poll["projected_429_per_hour"], 0),
                f"{_fmt(polled['mean'])} / {_fmt(polled['max'])}",
            )
        )
    slope = rss_slope(runs)
    per_size = ", ".join(
        f"{r['printers']}: {_fmt(r['memory']['kib_per_printer'], 0)} KiB"
        for r in runs
        if r["printers"]
    )
    empty = next((r["memory"]["rss_mib"] for r in runs if r["printers"] == 0), None)
    over_empty = (
        ", ".join(
            f"{r['printers']}: {_fmt((r['memory']['rss_mib'] - empty) * 1024 / r['printers'], 0)}"
            " KiB"
            for r in runs
            if r["printers"]
        )
        if empty is not None
        else "-"
    )
    lines += [
        "",
        (
            f"Memory per printer: {_fmt(slope, 0)} KiB (slope of Home Assistant's RSS over "
            f"the farm sizes); (RSS - RSS with the empty farm) / printers: {over_empty}; "
            f"(RSS - RSS before printfarm was added) / printers: {per_size}."
        ),
        "",
        "| Target | Measured | Met |",
        "|---|---:|:---:|",
    ]
    lines += [
        f"| {t['target']} | {_fmt(t['measured'], 3)} | {'yes' if t['met'] else '**no**'} |"
        for t in targets(runs)
    ]
    return "\n".join(lines) + "\n"
