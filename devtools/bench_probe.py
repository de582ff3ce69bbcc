"""The benchmark's instruments: what farmsim published and when, what Home Assistant wrote.

farmsim runs in the benchmark's process, so its simulated printers can be watched without
changing farmsim: each printer's `_send` is wrapped to note the tracked fields of every report
it publishes, and the embedded broker's stream transport is wrapped to note when a report's
bytes are written to Home Assistant's socket (the moment a real printer publishes). Home
Assistant is watched only from outside: its `state_changed` events over the websocket API and
its process counters in /proc.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import math
import os
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from custom_components.printfarm.api import (
    AutoPrintFarm,
    PrintFarmError,
    PrintFarmRateLimitError,
)
from farmsim.mqtt import broker as mqtt_broker
from farmsim.server import FarmSim

from .harness import HarnessError, HomeAssistantClient

# Printer sensors whose values only grow (or only shrink) while a print runs, with the report
# field they show: a state is matched to the first report that carried its value.
LATENCY_FIELDS = {
    "current_layer": "layer_num",
    "time_remaining": "mc_remaining_time",
    "progress": "mc_percent",
}
UNAVAILABLE = frozenset({"unavailable", "unknown"})
SAMPLE_INTERVAL = 0.1
_TOPIC = re.compile(rb"device/([0-9A-Za-z]+)/report")
_SEQUENCE = re.compile(rb'"sequence_id":"(\d+)"')
# The same sensors in Printago's printer stats (`data.print`)
PRINTAGO_FIELDS = {
    "current_layer": "currentLayer",
    "time_remaining": "timeRemaining",
    "progress": "percent",
}
_PRINTAGO_STAT = re.compile(rb'"printerId": "([^"]+)".*?"receivedAt": "([^"]+)"')

type WireWrite = Callable[[Any, bytes], Awaitable[None]]


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float | None:
    """Return the nearest-rank percentile (`share` in 0..1) of the values, or None."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: Sequence[float], scale: float = 1.0) -> dict[str, float | int | None]:
    """Return count, mean, p50, p95, p99 and max of the values, multiplied by `scale`."""

    def scaled(value: float | None) -> float | None:
        return None if value is None else round(value * scale, 3)

    return {
        "count": len(values),
        "mean": scaled(sum(values) / len(values)) if values else None,
        "p50": scaled(percentile(values, 0.50)),
        "p95": scaled(percentile(values, 0.95)),
        "p99": scaled(percentile(values, 0.99)),
        "max": scaled(max(values)) if values else None,
    }


def number(state: str) -> float | None:
    """Return a state as a number, or None when it is not one."""
    try:
        value = float(state)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------
# The Home Assistant process
# --------------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, kw_only=True)
class ProcessSample:
    """CPU time and memory of a process at one moment."""

    at: float
    cpu_seconds: float
    rss_bytes: int
    threads: int


def process_sample(pid: int) -> ProcessSample:
    """Read a process's CPU time (utime + stime, every thread) and RSS from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    # The command name may hold spaces: the fields follow its closing parenthesis
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    rss = threads = 0
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return ProcessSample(at=time.monotonic(), cpu_seconds=cpu, rss_bytes=rss, threads=threads)


def machine() -> dict[str, Any]:
    """Describe the machine: CPU model and count, memory, kernel."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "kernel": os.uname().release,
    }


# Put on Home Assistant's PYTHONPATH (`--gc-log`): notes each garbage collection's pause.
GC_SITECUSTOMIZE = """\
\"\"\"Written by devtools/bench.py: log the garbage collections of this process.\"\"\"
import gc
import os
import time

_PATH = os.environ.get("PRINTFARM_BENCH_GC_LOG")
if _PATH:
    _LOG = open(_PATH, "a", buffering=1, encoding="ascii")
    _STARTED = [0.0]

    def _collect(phase, info):
        if phase == "start":
            _STARTED[0] = time.perf_counter()
            return
        took = time.perf_counter() - _STARTED[0]
        if info["generation"] or took > 0.002:
            at = time.time() - took
            _LOG.write(f"{at:.6f} {took:.6f} {info['generation']} {info['collected']}\\n")

    gc.callbacks.append(_collect)
"""


@dataclass(frozen=True, kw_only=True)
class GcPause:
    """One garbage collection in Home Assistant: when, how long, which generation."""

    at: float
    seconds: float
    generation: int
    collected: int


def write_gc_site(directory: Path) -> Path:
    """Write the sitecustomize that logs garbage collections; return its directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(GC_SITECUSTOMIZE, encoding="utf-8")
    return directory


def read_gc_log(path: Path) -> list[GcPause]:
    """Return the collections a GC log lists (none if there is no log)."""
    pauses: list[GcPause] = []
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text(encoding="ascii").splitlines():
            parts = line.split()
            if len(parts) == 4:  # noqa: PLR2004
                at, took, generation, collected = parts
                pauses.append(
                    GcPause(
                        at=float(at),
                        seconds=float(took),
                        generation=int(generation),
                        collected=int(collected),
                    )
                )
    return pauses


# --------------------------------------------------------------------------------------------
# What farmsim published
# --------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class PublishRecorder:
    """Notes, for each printer, when each value of the tracked sensors was first published.

    A report is keyed by its source and sequence: the Bambu serial and `sequence_id`, or
    for Printago's realtime feed the printer id and `receivedAt`. Its time is when its bytes
    were written to the subscriber's socket (the wrapped broker transports), or when it was
    handed to the broker if no write was seen (no client connected).
    """

    # Every message published to Home Assistant's brokers (reports and command answers)
    count: int = 0
    published: dict[tuple[str, str], float] = field(default_factory=dict)
    written: dict[tuple[str, str], float] = field(default_factory=dict)
    # (printer name, sensor key) -> value -> (source, sequence) of its first report
    first: defaultdict[tuple[str, str], dict[float, tuple[str, str]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    _restore: list[Callable[[], None]] = field(default_factory=list)

    def install(self, sim: FarmSim, *, printago: bool = False) -> None:
        """Wrap the publishing of every Bambu printer (or Printago's feed) and the writes."""
        if printago:
            self._wrap_realtime(sim)
        else:
            for sim_printer in sim.fleet.printers.values():
                self._wrap_printer(sim_printer.printer.name, sim_printer.serial, sim_printer)
        recorder = self
        for transport in (mqtt_broker._StreamTransport, mqtt_broker._WebSocketTransport):  # noqa: SLF001
            write: WireWrite = transport.write

            async def timed_write(self: Any, data: bytes, _write: WireWrite = write) -> None:
                recorder.on_write(time.time(), data)
                await _write(self, data)

            setattr(transport, "write", timed_write)  # noqa: B010 - restored by uninstall
            self._restore.append(partial(setattr, transport, "write", write))

    def _wrap_printer(self, name: str, serial: str, sim_printer: Any) -> None:
        """Wrap one simulated Bambu printer's publish."""
        original = sim_printer._send  # noqa: SLF001

        def send(message: dict[str, Any]) -> None:
            at = time.time()
            original(message)
            self.count += 1
            self.on_publish(name, serial, at, message)

        setattr(sim_printer, "_send", send)  # noqa: B010 - instance override

    def _wrap_realtime(self, sim: FarmSim) -> None:
        """Wrap the publish of Printago's realtime feed."""
        realtime = sim.realtime
        original = realtime._send  # noqa: SLF001

        def send(topic: str, message: Mapping[str, object], *, retain: bool) -> int:
            at = time.time()
            sent = original(topic, message, retain=retain)
            if "/printer-stats/" in topic:
                self.count += 1
                self.on_printago_stat(at, message)
            return sent

        setattr(realtime, "_send", send)  # noqa: B010 - instance override
        self._restore.append(partial(delattr, realtime, "_send"))

    def uninstall(self) -> None:
        """Put the broker transports back as they were."""
        while self._restore:
            self._restore.pop()()

    def _note(self, name: str, key: tuple[str, str], at: float, values: Mapping[str, Any]) -> None:
        """Note a report and the first appearance of each tracked value in it."""
        self.published.setdefault(key, at)
        for sensor, value in values.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.first[name, sensor].setdefault(float(value), key)

    def on_publish(self, name: str, serial: str, at: float, message: Mapping[str, Any]) -> None:
        """Note a report a Bambu printer published."""
        body = message.get("print")
        if not isinstance(body, Mapping) or body.get("command") != "push_status":
            return
        values = {sensor: body.get(name_) for sensor, name_ in LATENCY_FIELDS.items()}
        self._note(name, (serial, str(body.get("sequence_id"))), at, values)

    def on_printago_stat(self, at: float, message: Mapping[str, Any]) -> None:
        """Note a printer-stats message of Printago's feed."""
        name = str(message.get("metadata", {}).get("name", ""))
        job = message.get("data", {}).get("print", {})
        values = {sensor: job.get(name_) for sensor, name_ in PRINTAGO_FIELDS.items()}
        key = (str(message.get("printerId")), str(message.get("receivedAt")))
        self._note(name, key, at, values)

    def on_write(self, at: float, data: bytes) -> None:
        """Note the reports a broker wrote to a client's socket."""
        if (topic := _TOPIC.search(data)) is not None:
            serial = topic[1].decode()
            for sequence in _SEQUENCE.findall(data):
                self.written.setdefault((serial, sequence.decode()), at)
            return
        for printer, received in _PRINTAGO_STAT.findall(data):
            self.written.setdefault((printer.decode(), received.decode()), at)

    def source_time(self, name: str, sensor: str, value: float) -> float | None:
        """Return when the first report carrying a sensor's value left farmsim, or None."""
        key = self.first.get((name, sensor), {}).get(value)
        if key is None:
            return None
        return self.written.get(key, self.published.get(key))

    def queue_delays(self, start: float, end: float) -> list[float]:
        """Return, per report handed to a broker in the window, the seconds until its write."""
        return [
            self.written[key] - at
            for key, at in self.published.items()
            if start <= at <= end and key in self.written
        ]


@dataclass(kw_only=True)
class LayerWatcher:
    """Notes the moment each printer's layer changed in farmsim's world.

    The world moves only when it is ticked (by every printer before it reports, by its
    ticker, by API calls), so the wrapped `tick` compares the layers after each tick.
    """

    changes: defaultdict[str, dict[int, float]] = field(default_factory=lambda: defaultdict(dict))
    _last: dict[str, int] = field(default_factory=dict)
    _restore: Callable[[], None] | None = None

    def install(self, sim: FarmSim) -> None:
        """Wrap the world's tick; the layers found now are no changes."""
        world = sim.world
        printers = world.printers
        tick = world.tick
        self._last = {printer.name: printer.layer for printer in printers.values()}
        last = self._last
        changes = self.changes

        def watched_tick() -> None:
            tick()
            now = time.time()
            for printer in printers.values():
                if last.get(printer.name) != printer.layer:
                    last[printer.name] = printer.layer
                    changes[printer.name].setdefault(printer.layer, now)

        setattr(world, "tick", watched_tick)  # noqa: B010 - restored by uninstall
        self._restore = lambda: delattr(world, "tick")

    def uninstall(self) -> None:
        """Let the world tick as before."""
        if self._restore is not None:
            self._restore()
            self._restore = None


@dataclass(kw_only=True)
class LoopMonitor:
    """How late a task of the benchmark's event loop (shared with farmsim) wakes up."""

    interval: float = SAMPLE_INTERVAL
    lags: list[float] = field(default_factory=list)

    async def run(self) -> None:
        """Measure until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.lags.append(loop.time() - due)


@dataclass(frozen=True, kw_only=True)
class Change:
    """A layer change of a printer, when it happened and when a watcher first showed it."""

    printer: str
    layer: int
    at: float
    seen: float

    @property
    def age(self) -> float:
        """Return how old the change was when it was first shown."""
        return self.seen - self.at


def staleness(
    printer: str,
    changes: Mapping[int, float],
    seen: Sequence[tuple[float, float]],
    start: float,
    end: float,
) -> tuple[list[Change], int]:
    """Return the changes in [start, end) with when each was first seen, and how many were not.

    `seen` lists (time, value) observations in time order; a change to layer v at t is seen
    by the first observation at or after t showing v or more (layers only grow in a print).
    """
    times = [at for at, _ in seen]
    found: list[Change] = []
    missed = 0
    for value, at in changes.items():
        if not start <= at < end:
            continue
        index = bisect.bisect_left(times, at)
        for seen_at, seen_value in seen[index:]:
            if seen_value >= value:
                found.append(Change(printer=printer, layer=value, at=at, seen=seen_at))
                break
        else:
            missed += 1
    return found, missed


# --------------------------------------------------------------------------------------------
# What Home Assistant wrote
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StateWrite:
    """One `state_changed` event of a printfarm entity."""

    fired: float
    entity_id: str
    state: str
    old_state: str | None
    # An event entity's event type
    event_type: str | None = None


def fired_at(event: Mapping[str, Any]) -> float:
    """Return an event's `time_fired` as epoch seconds."""
    return datetime.fromisoformat(str(event["time_fired"])).timestamp()


@dataclass(kw_only=True)
class StateWatcher:
    """Home Assistant's `state_changed` events of the given entities, over the websocket API."""

    client: HomeAssistantClient
    entity_ids: frozenset[str]
    writes: list[StateWrite] = field(default_factory=list)
    other_events: int = 0
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Subscribe and collect until cancelled; raise if Home Assistant hangs up."""
        subscribe = {"type": "subscribe_events", "event_type": "state_changed"}
        await subscribed_messages(self.client, subscribe, self._handle)

    def _handle(self, message: Any) -> None:
        """Collect the events of one websocket message (HA may batch them in a list)."""
        for item in message if isinstance(message, list) else [message]:
            if item.get("type") == "result":
                if item.get("id") == 2:  # noqa: PLR2004
                    self.subscribed.set()
                continue
            event = item.get("event")
            if item.get("type") != "event" or not isinstance(event, dict):
                continue
            data = event.get("data", {})
            entity_id = data.get("entity_id")
            new_state = data.get("new_state")
            if entity_id not in self.entity_ids or not isinstance(new_state, dict):
                self.other_events += 1
                continue
            old = data.get("old_state")
            event_type = new_state.get("attributes", {}).get("event_type")
            self.writes.append(
                StateWrite(
                    fired=fired_at(event),
                    entity_id=entity_id,
                    state=str(new_state.get("state")),
                    old_state=str(old["state"]) if isinstance(old, dict) else None,
                    event_type=str(event_type) if event_type is not None else None,
                )
            )

    def between(self, start: float, end: float) -> list[StateWrite]:
        """Return the writes fired in [start, end)."""
        return [write for write in self.writes if start <= write.fired < end]


async def subscribed_messages(
    client: HomeAssistantClient, subscribe: Mapping[str, Any], handle: Callable[[Any], None]
) -> None:
    """Subscribe over a websocket of its own; pass each message to `handle` until cancelled.

    Home Assistant may coalesce queued messages into one frame (a JSON list); it drops a
    client that falls 4096 messages behind, which raises here.
    """
    url = client.base_url.replace("http", "ws", 1) + "/api/websocket"
    async with client.session.ws_connect(url, max_msg_size=0, heartbeat=30) as ws:
        await ws.receive_json(timeout=30)
        await ws.send_json({"type": "auth", "access_token": client.token})
        answer = await ws.receive_json(timeout=30)
        if answer.get("type") != "auth_ok":
            msg = f"websocket authentication failed: {answer}"
            raise HarnessError(msg)
        features = {"coalesce_messages": 1}
        await ws.send_json({"id": 1, "type": "supported_features", "features": features})
        await ws.send_json({**subscribe, "id": 2})
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            handle(json.loads(message.data))
    msg = "Home Assistant closed the websocket (the benchmark fell behind its events?)"
    raise HarnessError(msg)


@dataclass(kw_only=True)
class FirstStates:
    """When each of some entities first showed a number after a moment (`since`).

    Uses `subscribe_entities`, as the frontend does: only these entities' changes are sent,
    with their `last_updated` times, so a reload of thousands of entities stays cheap.
    """

    client: HomeAssistantClient
    entity_ids: frozenset[str]
    since: float = math.inf
    first: dict[str, float] = field(default_factory=dict)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Subscribe and note until cancelled."""
        subscribe = {"type": "subscribe_entities", "entity_ids": sorted(self.entity_ids)}
        await subscribed_messages(self.client, subscribe, self._handle)

    def _handle(self, message: Any) -> None:
        for item in message if isinstance(message, list) else [message]:
            if item.get("type") == "result" and item.get("id") == 2:  # noqa: PLR2004
                self.subscribed.set()
            event = item.get("event")
            if item.get("type") != "event" or not isinstance(event, dict):
                continue
            for entity_id, state in (event.get("a") or {}).items():
                self._note(entity_id, state)
            for entity_id, diff in (event.get("c") or {}).items():
                self._note(entity_id, diff.get("+") or {})

    def _note(self, entity_id: str, state: Mapping[str, Any]) -> None:
        at = state.get("lu", state.get("lc"))
        value = state.get("s")
        if at is None or value is None or number(str(value)) is None:
            return
        if float(at) >= self.since:
            self.first.setdefault(entity_id, float(at))


def unchanged_writes(
    states: Iterable[Mapping[str, Any]], entity_ids: frozenset[str], since: float
) -> list[str]:
    """Return the entities written after `since` without their state changing.

    Home Assistant moves only `last_reported` when a state is written unchanged.
    """
    found: list[str] = []
    for state in states:
        if state.get("entity_id") not in entity_ids:
            continue
        reported = datetime.fromisoformat(str(state["last_reported"])).timestamp()
        updated = datetime.fromisoformat(str(state["last_updated"])).timestamp()
        if reported > updated and reported >= since:
            found.append(str(state["entity_id"]))
    return found


# --------------------------------------------------------------------------------------------
# The polling comparison
# --------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Poller:
    """Watches the farm by polling its printers endpoint, as OctoPrint or PrusaLink do.

    Each poll reads every page of the printer list with printfarm's own REST client; the
    layer of each printer is noted with the time the answer arrived.
    """

    client: AutoPrintFarm
    interval: float = 30.0
    polls: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    rate_limited: int = 0
    errors: int = 0

    async def run(self, rounds: int) -> None:
        """Poll `rounds` times, `interval` seconds apart (bounded; cancel to stop early)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index in range(rounds):
            await asyncio.sleep(max(start + index * self.interval - loop.time(), 0.0))
            try:
                printers = await self.client.printers()
            except PrintFarmRateLimitError:
                self.rate_limited += 1
                continue
            except PrintFarmError:
                self.errors += 1
                continue
            layers = {p.name: int(p.raw.get("current_layer") or 0) for p in printers}
            self.polls.append((time.time(), layers))

    def seen(self, name: str) -> list[tuple[float, float]]:
        """Return the (time, layer) the polls saw of one printer."""
        return [(at, float(layers[name])) for at, layers in self.polls if name in layers]
