"""The benchmark's view of farmsim: when each value was published, when the world changed.

farmsim runs in the benchmark's process, so its simulated printers can be watched: the
fleet's publish listener notes the tracked fields of every Bambu report (Printago's feed is
wrapped), farmsim's sent listeners note when paho finished writing a report to Mosquitto
(the closest farmsim sees to the moment a real printer publishes: Mosquitto, a separate
process, passes it on to Home Assistant's socket from there), and the world's advance
listener notes when each layer changed. Also the statistics, and the poller that stands for
polling integrations. Home Assistant itself is watched from outside (bench_hass).
"""

from __future__ import annotations

import asyncio
import bisect
import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from custom_components.printfarm.api import (
    AutoPrintFarm,
    PrintFarmError,
    PrintFarmRateLimitError,
)
from farmsim.models import Printer
from farmsim.server import FarmSim

from .harness import SERVICE_AUTOPRINTFARM, HarnessError

# Printer sensors whose values only grow (or only shrink) while a print runs, with the report
# field they show: a state is matched to the first report that carried its value.
LATENCY_FIELDS = {
    "current_layer": "layer_num",
    "time_remaining": "mc_remaining_time",
    "progress": "mc_percent",
}
UNAVAILABLE = frozenset({"unavailable", "unknown"})
SAMPLE_INTERVAL = 0.1
_TOPIC = re.compile(r"device/([0-9A-Za-z]+)/report")
_SEQUENCE = re.compile(rb'"sequence_id":"(\d+)"')
# The same sensors in Printago's printer stats (`data.print`)
PRINTAGO_FIELDS = {
    "current_layer": "currentLayer",
    "time_remaining": "timeRemaining",
    "progress": "percent",
}
_PRINTAGO_STAT = re.compile(rb'"printerId": "([^"]+)".*?"receivedAt": "([^"]+)"')

# The long print every printer gets: a week of simulated time, a layer every 4 to 6 minutes.
JOB_SECONDS = 7 * 24 * 3600
LAYER_SECONDS = 250
JOB_GRAMS = 100
# Simulated seconds past preparing, heating and levelling (about 420 s) into printing.
WARM_SIM_SECONDS = 900.0


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
# What farmsim published
# --------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class PublishRecorder:
    """Notes, for each printer, when each value of the tracked sensors was first published.

    A report is keyed by its source and sequence: the Bambu serial and `sequence_id`, or
    for Printago's realtime feed the printer id and `receivedAt`. Its time is when farmsim's
    paho client finished writing it to Mosquitto (farmsim's sent listeners), or when it was
    handed to the client if no write was seen.
    """

    published: dict[tuple[str, str], float] = field(default_factory=dict)
    written: dict[tuple[str, str], float] = field(default_factory=dict)
    # (printer name, sensor key) -> value -> (source, sequence) of its first report
    first: defaultdict[tuple[str, str], dict[float, tuple[str, str]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    _restore: list[Callable[[], None]] = field(default_factory=list)

    def install(self, sim: FarmSim, *, printago: bool = False) -> None:
        """Listen to the Bambu printers' publishes (or wrap Printago's feed) and the writes."""
        if printago:
            self._wrap_realtime(sim)
        else:
            names = {printer.serial: printer.name for printer in sim.world.printers.values()}

            def published(serial: str, message: dict[str, Any], at: float) -> None:
                self.on_publish(names.get(serial, serial), serial, at, message)

            self._restore.append(sim.fleet.add_publish_listener(published))
        source = sim.realtime.broker if printago else sim.fleet
        self._restore.append(source.add_sent_listener(self.on_sent))

    def _wrap_realtime(self, sim: FarmSim) -> None:
        """Wrap the publish of Printago's realtime feed."""
        realtime = sim.realtime
        original = realtime._send  # noqa: SLF001

        def send(topic: str, message: Mapping[str, object], *, retain: bool) -> bool:
            at = time.time()
            sent = original(topic, message, retain=retain)
            if "/printer-stats/" in topic:
                self.on_printago_stat(at, message)
            return sent

        setattr(realtime, "_send", send)  # noqa: B010 - instance override
        self._restore.append(partial(delattr, realtime, "_send"))

    def uninstall(self) -> None:
        """Stop listening and put Printago's feed back as it was."""
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

    def on_sent(self, topic: str, payload: bytes, at: float) -> None:
        """Note the reports farmsim's paho client finished writing to Mosquitto."""
        if (match := _TOPIC.fullmatch(topic)) is not None:
            for sequence in _SEQUENCE.findall(payload):
                self.written.setdefault((match[1], sequence.decode()), at)
            return
        for printer, received in _PRINTAGO_STAT.findall(payload):
            self.written.setdefault((printer.decode(), received.decode()), at)

    def source_time(self, name: str, sensor: str, value: float) -> float | None:
        """Return when the first report carrying a sensor's value left farmsim, or None."""
        key = self.first.get((name, sensor), {}).get(value)
        if key is None:
            return None
        return self.written.get(key, self.published.get(key))

    def queue_delays(self, start: float, end: float) -> list[float]:
        """Return, per report handed to paho in the window, the seconds until it was written."""
        return [
            self.written[key] - at
            for key, at in self.published.items()
            if start <= at <= end and key in self.written
        ]


@dataclass(kw_only=True)
class LayerWatcher:
    """Notes the moment each printer's layer changed in farmsim's world.

    A printer moves only when the world advances it (before each of its reports, at the
    world's ticks), so its layer is compared each time the world advanced it.
    """

    changes: defaultdict[str, dict[int, float]] = field(default_factory=lambda: defaultdict(dict))
    _last: dict[str, int] = field(default_factory=dict)
    _restore: Callable[[], None] | None = None

    def install(self, sim: FarmSim) -> None:
        """Listen to the world's advances; the layers found now are no changes."""
        self._last = {printer.name: printer.layer for printer in sim.world.printers.values()}
        self._restore = sim.world.add_advance_listener(self._advanced)

    def _advanced(self, printer: Printer) -> None:
        """Note the printer's layer if it changed."""
        if self._last.get(printer.name) != printer.layer:
            self._last[printer.name] = printer.layer
            self.changes[printer.name].setdefault(printer.layer, time.time())

    def uninstall(self) -> None:
        """Stop listening to the world."""
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
# The farm
# --------------------------------------------------------------------------------------------


def start_prints(sim: FarmSim, source: str = SERVICE_AUTOPRINTFARM) -> None:
    """Give every printer a long job and move the clock until every printer prints."""
    world = sim.world
    for index, printer_id in enumerate(list(world.printers)):
        # Layers of 250 to 349 simulated seconds: the printers' changes do not line up
        layers = JOB_SECONDS // (LAYER_SECONDS + index * 37 % 100)
        world.submit_job(
            source=source,
            file_url=(
                f"https://files.printfarm.invalid/bench/part-{index}.gcode.3mf"
                f"?sim_seconds={JOB_SECONDS}&sim_grams={JOB_GRAMS}&sim_layers={layers}"
            ),
            printer_id=printer_id,
        )
    world.clock.advance(WARM_SIM_SECONDS)
    world.tick()
    idle = [p.name for p in world.printers.values() if world.status_word(p) != "printing"]
    if idle:
        msg = f"printers not printing after the warm-up: {', '.join(idle)}"
        raise HarnessError(msg)


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
