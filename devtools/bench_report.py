"""The benchmark's figures: from what one farm size recorded to its part of the report."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from .bench_hass import (
    GcPause,
    ProcessSample,
    StateWatcher,
    process_sample,
    unchanged_writes,
)
from .bench_probe import (
    LATENCY_FIELDS,
    UNAVAILABLE,
    Change,
    LayerWatcher,
    LoopMonitor,
    Poller,
    PublishRecorder,
    number,
    staleness,
    summary,
)
from .harness import Registry

MIB = 2**20
# Garbage collections at least this long are counted as pauses of Home Assistant.
LONG_GC_PAUSE = 0.020
# Seconds at the end of the window in which a layer change may not have reached the watcher.
STALENESS_MARGIN = 2.0


@dataclass(kw_only=True)
class Sample:
    """A process sample with farmsim's counters at the same moment."""

    process: ProcessSample
    messages: int = 0
    requests: int = 0


@dataclass(kw_only=True)
class SizeRun:
    """What the benchmark recorded for one farm size."""

    printers: int
    options: dict[str, Any]
    service: str = "autoprintfarm"
    limit_per_hour: int = 100
    entry_id: str = ""
    add_entry_s: float = 0.0
    add_printers_s: float = 0.0
    samples: dict[str, Sample] = field(default_factory=dict)
    # entity id -> (printer name, or "" for the farm device; entity key)
    entities: dict[str, tuple[str, str]] = field(default_factory=dict)
    watcher: StateWatcher | None = None
    recorder: PublishRecorder | None = None
    poller: Poller | None = None
    layers: LayerWatcher | None = None
    monitor: LoopMonitor | None = None
    setup_started: float = 0.0
    loaded_s: float = 0.0
    all_states_s: float = 0.0
    setup_requests: int = 0
    setup_states: int = 0
    setup_events: dict[str, int] = field(default_factory=dict)
    window_start: float = 0.0
    window_end: float = 0.0
    quiet_start: float = 0.0
    bench_cpu_s: float = 0.0
    poll_requests: int = 0
    rate_limited: int = 0
    states: list[dict[str, Any]] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    gc_pauses: list[GcPause] = field(default_factory=list)

    @property
    def poller_wanted(self) -> bool:
        """Return whether the polling comparison runs (against AutoPrintFarm)."""
        return self.service == "autoprintfarm"

    def sample(self, name: str, pid: int, messages: int = 0, requests: int = 0) -> None:
        """Note the process and counters under a name."""
        self.samples[name] = Sample(
            process=process_sample(pid), messages=messages, requests=requests
        )

    def map_entities(self, registry: Registry) -> None:
        """Note which printer (by name) and key each printfarm entity belongs to."""
        devices = {str(device["id"]): device for device in registry.devices}
        for entity in registry.entities:
            device = devices.get(str(entity.get("device_id")))
            unique_id = str(entity.get("unique_id", ""))
            ident = next(
                (str(i[1]) for i in (device or {}).get("identifiers", []) if i[0] == "printfarm"),
                "",
            )
            key = unique_id.removeprefix(f"{ident}_") if ident else unique_id
            # A material's entities: {account}_{material id}_material_...
            key = key[key.index("material_") :] if "material_" in key else key
            printer = str(device.get("name", "")) if device and device.get("via_device_id") else ""
            self.entities[str(entity["entity_id"])] = (printer, key)


def parse_interval(text: str) -> float | None:
    """Return the seconds of a `str(timedelta)` such as "0:06:00" or "1 day, 0:00:30.5"."""
    match = re.fullmatch(r"(?:(\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", text.strip())
    if match is None:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _cpu(run: SizeRun, start: str, end: str) -> tuple[float, float, int]:
    """Return CPU seconds, wall seconds and messages between two samples."""
    first, last = run.samples[start], run.samples[end]
    return (
        last.process.cpu_seconds - first.process.cpu_seconds,
        last.process.at - first.process.at,
        last.messages - first.messages,
    )


def _per(value: float, count: float, scale: float = 1.0) -> float | None:
    """Return value / count * scale, rounded, or None without a count."""
    return round(value / count * scale, 4) if count else None


@dataclass(frozen=True, kw_only=True)
class Latency:
    """One state written from a report: when the report left the printer, when HA wrote it."""

    key: str
    sent: float
    fired: float

    @property
    def seconds(self) -> float:
        """Return the push latency."""
        return self.fired - self.sent


def _latencies(run: SizeRun) -> tuple[list[Latency], int]:
    """Return the push latencies of the window, and how many states found no report."""
    assert run.watcher is not None  # noqa: S101
    assert run.recorder is not None  # noqa: S101
    every: list[Latency] = []
    unmatched = 0
    for write in run.watcher.between(run.window_start, run.window_end):
        printer, key = run.entities.get(write.entity_id, ("", ""))
        value = number(write.state)
        if not printer or key not in LATENCY_FIELDS or value is None:
            continue
        source = run.recorder.source_time(printer, key, value)
        if source is None:
            unmatched += 1
            continue
        every.append(Latency(key=key, sent=source, fired=write.fired))
    return every, unmatched


def _gc(run: SizeRun, latencies: list[Latency]) -> dict[str, Any]:
    """Return Home Assistant's GC pauses in the window, and the latency outside long ones."""
    pauses = [p for p in run.gc_pauses if run.window_start <= p.at < run.window_end]
    long = [p for p in pauses if p.seconds >= LONG_GC_PAUSE]
    outside = [
        lat.seconds
        for lat in latencies
        if not any(p.at < lat.fired and p.at + p.seconds > lat.sent for p in long)
    ]
    return {
        "logged": bool(run.gc_pauses),
        "collections_gen2": sum(1 for p in pauses if p.generation == 2),  # noqa: PLR2004
        "pauses_over_20ms": len(long),
        "max_pause_ms": round(max(p.seconds for p in pauses) * 1000, 1) if pauses else None,
        "paused_ms_total": round(sum(p.seconds for p in pauses) * 1000, 1),
        "latency_ms_outside_long_pauses": summary(outside, 1000),
    }


def _push_staleness(run: SizeRun) -> tuple[list[Change], int]:
    """Return each layer change with when Home Assistant wrote it."""
    assert run.watcher is not None  # noqa: S101
    assert run.layers is not None  # noqa: S101
    seen: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for write in run.watcher.writes:
        printer, key = run.entities.get(write.entity_id, ("", ""))
        if key == "current_layer" and (value := number(write.state)) is not None:
            seen[printer].append((write.fired, value))
    found: list[Change] = []
    missed = 0
    end = run.window_end - STALENESS_MARGIN
    for printer, changes in run.layers.changes.items():
        changed, lost = staleness(printer, changes, sorted(seen[printer]), run.window_start, end)
        found += changed
        missed += lost
    return found, missed


def _poll_staleness(run: SizeRun) -> tuple[list[Change], int]:
    """Return each layer change with when the poller first read it."""
    assert run.poller is not None  # noqa: S101
    assert run.layers is not None  # noqa: S101
    polls = run.poller.polls
    if len(polls) < 2:  # noqa: PLR2004
        return [], 0
    found: list[Change] = []
    missed = 0
    for printer, changes in run.layers.changes.items():
        seen = run.poller.seen(printer)
        changed, lost = staleness(printer, changes, seen, polls[0][0], polls[-1][0])
        found += changed
        missed += lost
    return found, missed


def _staleness(changes: list[Change], missed: int) -> dict[str, Any]:
    """Return the summary of how old changes were when shown, with the oldest one."""
    worst = max(changes, key=lambda change: change.age, default=None)
    return {
        **summary([change.age for change in changes]),
        "changes_not_seen": missed,
        "worst": None
        if worst is None
        else {"printer": worst.printer, "layer": worst.layer, "at": worst.at, "seen": worst.seen},
    }


def _api(run: SizeRun) -> dict[str, Any]:
    """Return the farm API figures of Home Assistant's key, measured and planned."""
    first, last = run.samples["window_start"], run.samples["quiet_end"]
    span = last.process.at - first.process.at
    limit = run.limit_per_hour
    interval = parse_interval(str(run.diagnostics.get("refresh_interval", "")))
    per_refresh = run.setup_requests - 1 if run.setup_requests > 1 else None
    planned = 3600 / interval * per_refresh if interval and per_refresh else None
    poller_429 = run.poller.rate_limited if run.poller else 0
    return {
        "service": run.service,
        "limit_per_hour": limit,
        "budget": run.diagnostics.get("budget"),
        "refresh_interval_s": interval,
        "requests_per_refresh": per_refresh,
        "planned_per_hour": round(planned, 1) if planned else None,
        "planned_share_of_limit": round(planned / limit, 3) if planned else None,
        "setup_requests": run.setup_requests,
        "measured_requests": last.requests - first.requests,
        "measured_span_s": round(span, 1),
        "measured_per_hour": _per(last.requests - first.requests, span, 3600),
        "rate_limited_429": run.rate_limited - poller_429,
    }


def _polling(run: SizeRun) -> dict[str, Any] | None:
    """Return the poller's figures: requests, 429s and staleness."""
    if run.poller is None:
        return None
    polls = len(run.poller.polls) + run.poller.rate_limited + run.poller.errors
    interval = float(run.options["poll_interval"])
    limit = int(run.options["rate_limit"])
    per_poll = run.poll_requests / polls if polls else 0.0
    per_hour = per_poll * 3600 / interval
    changes, missed = _poll_staleness(run)
    return {
        "interval_s": interval,
        "polls": polls,
        "requests": run.poll_requests,
        "requests_per_poll": round(per_poll, 2),
        "requests_per_hour": round(per_hour, 1),
        "limit_per_hour": limit,
        "rate_limited_429": run.poller.rate_limited,
        "errors": run.poller.errors,
        "projected_429_per_hour": round(max(per_hour - limit, 0.0), 1),
        "staleness_s": _staleness(changes, missed),
    }


def analyse(run: SizeRun) -> dict[str, Any]:
    """Return the figures of one farm size."""
    assert run.watcher is not None  # noqa: S101
    assert run.recorder is not None  # noqa: S101
    cpu_sub, span, window_messages = _cpu(run, "window_start", "window_end")
    cpu_quiet, quiet_span, quiet_messages = _cpu(run, "quiet_start", "quiet_end")
    idle_cpu, idle_span, _ = _cpu(run, "onboarded", "idle")
    latencies, unmatched = _latencies(run)
    by_key: dict[str, list[float]] = defaultdict(list)
    for latency in latencies:
        by_key[latency.key].append(latency.seconds)
    seconds = [latency.seconds for latency in latencies]
    writes = run.watcher.between(run.window_start, run.window_end)
    push_changes, push_missed = _push_staleness(run)
    rss = run.samples["quiet_end"].process.rss_bytes
    onboarded = run.samples["idle"].process.rss_bytes
    queue = run.recorder.queue_delays(run.window_start, run.window_end)
    unchanged = unchanged_writes(run.states, frozenset(run.entities), run.window_start)
    return {
        "printers": run.printers,
        "entities": len(run.entities),
        "messages": {
            "window": window_messages,
            "per_second": _per(window_messages, span),
            "quiet_window": quiet_messages,
        },
        "latency_ms": {
            **summary(seconds, 1000),
            "min": round(min(seconds) * 1000, 3) if seconds else None,
            "unmatched": unmatched,
            "p99_by_sensor": {k: summary(v, 1000)["p99"] for k, v in sorted(by_key.items())},
        },
        "farmsim_queue_ms": summary(queue, 1000),
        "hass_gc": _gc(run, latencies),
        "cpu": {
            "ms_per_message": _per(cpu_quiet, quiet_messages, 1000),
            "ms_per_message_subscribed": _per(cpu_sub, window_messages, 1000),
            "percent": _per(cpu_quiet, quiet_span, 100),
            "percent_subscribed": _per(cpu_sub, span, 100),
            "idle_percent_before_printfarm": _per(idle_cpu, idle_span, 100),
            "bench_process_percent": _per(run.bench_cpu_s, span, 100),
            "bench_loop_lag_ms": summary(run.monitor.lags if run.monitor else [], 1000),
        },
        "state_writes": {
            "window": len(writes),
            "per_message": _per(len(writes), window_messages),
            "unchanged_entities": len(unchanged),
            "unchanged_by_key": dict(Counter(run.entities[e][1] for e in unchanged)),
            "unchanged_examples": sorted(unchanged)[:5],
            "other_events": run.watcher.other_events,
            # Every printer prints throughout: a print event is a spurious one
            "print_events": dict(
                Counter(
                    str(write.event_type)
                    for write in run.watcher.writes
                    if write.fired >= run.setup_started
                    and run.entities.get(write.entity_id, ("", ""))[1] == "print"
                    and write.old_state is not None
                    and write.state not in UNAVAILABLE
                )
            ),
        },
        "memory": {
            "rss_mib": round(rss / MIB, 1),
            "onboarded_rss_mib": round(onboarded / MIB, 1),
            "printfarm_mib": round((rss - onboarded) / MIB, 1),
            "kib_per_printer": _per((rss - onboarded) / 1024, run.printers),
            "threads": run.samples["quiet_end"].process.threads,
        },
        "setup": {
            "add_entry_s": round(run.add_entry_s, 2),
            "add_printers_s": round(run.add_printers_s, 2),
            "reload_loaded_s": round(run.loaded_s, 3),
            "all_states_s": round(run.all_states_s, 3),
            "printers_with_state": run.setup_states,
            # Every printer prints throughout: a print event at setup is a spurious one
            "print_events": run.setup_events,
        },
        "api": _api(run),
        "polling": _polling(run),
        "push_staleness_s": _staleness(push_changes, push_missed),
        "errors": run.errors,
    }
