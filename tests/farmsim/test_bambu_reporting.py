"""Tests for the Bambu fleet's reporting: each printer's beat, publish listeners, report cost."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from farmsim.bambu import BambuFleet
from farmsim.certs import CertificateAuthority
from farmsim.clock import SimClock
from farmsim.context import SimConfig, SimContext
from farmsim.models import Printer
from farmsim.world import World

INTERVAL = 0.4
PRINTERS = 4


@contextlib.asynccontextmanager
async def x1c_fleet(tmp_path: Path, *, spread: bool = True) -> AsyncIterator[BambuFleet]:
    """Run a fleet of X1C printers, which publish a full report on every beat."""
    world = World(clock=SimClock(start=1_700_000_000.0), seed=3)
    for index in range(PRINTERS):
        world.add_printer(model="X1C", name=f"X1C-{index:02d}")
    config = SimConfig(report_interval=INTERVAL, spread_reports=spread)
    fleet = BambuFleet(
        SimContext(config=config, world=world),
        CertificateAuthority.create(tmp_path / "ca"),
        tmp_path,
    )
    await fleet.start()
    try:
        yield fleet
    finally:
        await fleet.close()


async def record(fleet: BambuFleet, seconds: float) -> dict[str, list[float]]:
    """Return when each printer published, by serial, during the given seconds."""
    published: defaultdict[str, list[float]] = defaultdict(list)
    unsubscribe = fleet.add_publish_listener(
        lambda serial, _message, at: published[serial].append(at)
    )
    await asyncio.sleep(seconds)
    unsubscribe()
    return published


def beats(published: dict[str, list[float]]) -> list[float]:
    """Return each printer's place in the report interval after the first report, sorted."""
    first = min(times[0] for times in published.values())
    return sorted((times[0] - first) % INTERVAL for times in published.values())


async def test_printers_report_on_their_own_beat(tmp_path: Path) -> None:
    """Test each printer keeps the interval, at its own place in it: no farm-wide burst."""
    async with x1c_fleet(tmp_path) as fleet:
        published = await record(fleet, 6 * INTERVAL)
    assert len(published) == PRINTERS
    for times in published.values():
        gaps = [later - earlier for earlier, later in pairwise(times)]
        assert statistics.median(gaps) == pytest.approx(INTERVAL, rel=0.2)
    places = beats(published)
    # Neighbouring beats, around the circle of the interval, are well apart
    gaps = [b - a for a, b in pairwise(places)]
    gaps.append(places[0] + INTERVAL - places[-1])
    assert min(gaps) > INTERVAL / (3 * PRINTERS)


async def test_lockstep_printers_report_together(tmp_path: Path) -> None:
    """Test `spread_reports=False` makes every printer report at the same moment."""
    async with x1c_fleet(tmp_path, spread=False) as fleet:
        published = await record(fleet, 4 * INTERVAL)
    assert len(published) == PRINTERS
    # Around the circle of the interval, every beat is next to the first report's
    assert all(
        min(place, INTERVAL - place) < INTERVAL / (3 * PRINTERS) for place in beats(published)
    )


async def test_publish_listener_sees_every_published_message(tmp_path: Path) -> None:
    """Test the listener gets serial, message and time of exactly what the counter counts."""
    async with x1c_fleet(tmp_path) as fleet:
        counters = fleet.ctx.counters
        seen: list[tuple[str, dict[str, Any], float]] = []
        before = dict(counters.mqtt_published)
        started = time.time()
        unsubscribe = fleet.add_publish_listener(
            lambda serial, message, at: seen.append((serial, message, at))
        )
        await asyncio.sleep(3 * INTERVAL)
        unsubscribe()
        ended = time.time()
        after = dict(counters.mqtt_published)
        await asyncio.sleep(2 * INTERVAL)
        assert len(seen) == sum(after.values()) - sum(before.values())
    serials = {printer.serial for printer in fleet.ctx.world.printers.values()}
    assert {serial for serial, _, _ in seen} == serials
    for _, message, at in seen:
        assert message["print"]["command"] == "push_status"
        assert started <= at <= ended
    # Printago's realtime feed counts apart; it is not running here
    assert counters.printago_published == {}
    assert counters.as_dict()["printago_published"] == {}


async def test_a_report_advances_only_its_printer(tmp_path: Path) -> None:
    """Test the world's work per report does not grow with the farm: one printer each."""
    async with x1c_fleet(tmp_path) as fleet:
        world = fleet.ctx.world
        advanced: Counter[str] = Counter()
        reports: Counter[str] = Counter()
        ids = {printer.serial: printer.id for printer in world.printers.values()}

        def on_advance(printer: Printer) -> None:
            advanced[printer.id] += 1

        stop_advances = world.add_advance_listener(on_advance)
        stop_reports = fleet.add_publish_listener(
            lambda serial, _message, _at: reports.update([ids[serial]])
        )
        await asyncio.sleep(4 * INTERVAL)
        stop_advances()
        stop_reports()
    assert sum(reports.values()) >= PRINTERS * 3
    # Each report advanced its own printer (when the clock had moved), and no other
    for printer_id in ids.values():
        assert 0 < advanced[printer_id] <= reports[printer_id]
