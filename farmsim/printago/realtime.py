"""Printago realtime: MQTT over WebSockets with printer-stats and entity change events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from typing import TYPE_CHECKING, Final

from . import entities
from .broker import CLIENT_ID_PREFIX, RealtimeBroker
from .stats import printer_stat

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path

    from aiohttp import web

    from farmsim.context import SimContext
    from farmsim.models import Printer, WorldEvent

    from .common import JsonObject

_LOGGER = logging.getLogger(__name__)

PRINTERS: Final = "printers"
PRINT_JOBS: Final = "print-jobs"
STAT_KEYS: Final = ("state", "isOnline", "isAvailable", "metadata", "data")
MIN_INTERVAL: Final = 0.01
# Printago forwards each printer's reports as they arrive, not the whole store at once: the
# feed goes through the printers in this many groups per report interval.
MAX_GROUPS: Final = 10
# Unchanged stats of a live printer are published again halfway through their validity.
REFRESH_SHARE: Final = 0.5


def client_id_for(api_key: str, suffix: str) -> str:
    """Return the documented realtime client id: `apiclient_{first 24 of key}_{suffix}`."""
    return f"{CLIENT_ID_PREFIX}{api_key[:24]}_{suffix}"


class Realtime:
    """The realtime broker of the Printago face and what it publishes."""

    def __init__(self, ctx: SimContext, directory: Path | None = None) -> None:
        """Initialize the broker (its files in `directory`); `start()` begins publishing."""
        self.ctx = ctx
        self.broker = RealtimeBroker(ctx, directory)
        self._wake = asyncio.Event()
        self._group = 0
        self._touched: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._flush: asyncio.Handle | None = None
        self._stats: dict[str, str] = {}
        self._sent_at: dict[str, float] = {}
        self._offline: set[str] = set()
        self._forced: set[str] = set()
        self._known: dict[tuple[str, str], JsonObject] = {}
        self._dirty: dict[str, dict[str, None]] = {PRINTERS: {}, PRINT_JOBS: {}}

    @property
    def store_id(self) -> str:
        """Return the store whose topics this broker serves."""
        return self.ctx.config.printago_store_id

    def stats_topic(self, printer: Printer) -> str:
        """Return the printer-stats topic of a printer."""
        return f"stores/{self.store_id}/printer-stats/{printer.printago_id}"

    @property
    def refresh_interval(self) -> float:
        """Return how often the unchanged stats of a live printer are published again."""
        return self.ctx.config.printago_stat_validity * REFRESH_SHARE

    def entities_topic(self, entity_type: str) -> str:
        """Return the entity change topic of an entity type."""
        return f"stores/{self.store_id}/entities/{entity_type}"

    # Lifecycle

    async def start(self) -> None:
        """Accept WebSocket clients and start publishing."""
        if self._task is not None:
            return
        await self.broker.start()
        for printer in self.ctx.world.printers.values():
            self._known[PRINTERS, printer.id] = dict(entities.printer_entity(self.ctx, printer))
        for job in self.ctx.world.jobs.values():
            self._known[PRINT_JOBS, job.id] = dict(entities.job_entity(self.ctx, job))
        self._unsubscribe = self.ctx.world.subscribe(self._on_event)
        self._task = asyncio.create_task(self._run(), name="printago-realtime")

    async def close(self) -> None:
        """Stop publishing and close the broker with every client."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.broker.close()

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        """Serve one MQTT-over-WebSocket client (aiohttp handler for GET /mqtt)."""
        return await self.broker.handle_websocket(request)

    def resync(self, printer_id: str) -> None:
        """Publish a printer's full stats at once (the `resync-data` command)."""
        self._forced.add(printer_id)
        self._touched.add(printer_id)
        self._wake.set()

    # Publishing

    def _send(self, topic: str, message: Mapping[str, object], *, retain: bool) -> bool:
        """Publish a JSON message, through the MQTT payload faults; False if not sent."""
        payload = self.ctx.faults.mqtt.mangle(self.ctx.rng, json.dumps(message).encode())
        return self.broker.publish(topic, payload, retain=retain)

    async def _run(self) -> None:
        """Publish printer stats group by group through each interval, and on world events."""
        loop = asyncio.get_running_loop()
        due: list[str] | None = None
        turn_at = loop.time() + self._wait_interval()
        while True:
            self._wake.clear()
            try:
                self.publish_stats(due)
            except Exception:
                _LOGGER.exception("Publishing printer stats failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(turn_at):
                    await self._wake.wait()
            if loop.time() >= turn_at:
                due = self._next_group()
                # Events in between do not delay the turns; a late loop does not catch up
                turn_at = max(turn_at + self._wait_interval(), loop.time())
            else:
                # A world event or a resync: the printers it touched, at once
                due = list(self._touched)
            self._touched.clear()

    def _groups(self) -> int:
        """Return in how many groups the printers are gone through each interval."""
        return max(1, min(MAX_GROUPS, len(self.ctx.world.printers)))

    def _wait_interval(self) -> float:
        """Return how long to wait for a world event before the next group's turn."""
        cycle = min(self.ctx.config.report_interval, self.refresh_interval)
        return max(cycle / self._groups(), MIN_INTERVAL)

    def _next_group(self) -> list[str]:
        """Return the printers whose turn it is, and those touched in the meantime."""
        groups = self._groups()
        self._group = (self._group + 1) % groups
        turn = list(self.ctx.world.printers)[self._group :: groups]
        return turn + [p for p in self._touched if p not in turn]

    def publish_stats(self, printer_ids: Iterable[str] | None = None) -> int:
        """Publish the stats that changed or soon expire, of some or all printers; return the count.

        A live printer's stats are republished before their `expiresAt`, so a subscriber can
        tell a silent printer (its stats expire) from an idle one.
        """
        world = self.ctx.world
        if printer_ids is None:
            world.tick()
            printers = list(world.printers.values())
        else:
            printers = [world.printers[p] for p in printer_ids if p in world.printers]
            for printer in printers:
                world.tick_printer(printer.id)
        now = time.monotonic()
        sent = 0
        for printer in printers:
            forced = printer.id in self._forced
            self._forced.discard(printer.id)
            if printer.silent:
                continue
            stat = printer_stat(self.ctx, printer)
            signature = json.dumps({key: stat[key] for key in STAT_KEYS}, sort_keys=True)
            if printer.online:
                self._offline.discard(printer.id)
                due = now - self._sent_at.get(printer.id, -math.inf) >= self.refresh_interval
                if signature == self._stats.get(printer.id) and not (forced or due):
                    continue
            elif printer.id in self._offline:
                continue
            else:
                self._offline.add(printer.id)
            self._stats[printer.id] = signature
            self._sent_at[printer.id] = now
            self._send(self.stats_topic(printer), stat, retain=True)
            self.ctx.counters.printago_published[printer.id] += 1
            sent += 1
        return sent

    def _on_event(self, event: WorldEvent) -> None:
        """Note what a world event touched and schedule the publications."""
        if event.printer_id:
            self._dirty[PRINTERS][event.printer_id] = None
            self._touched.add(event.printer_id)
        if event.job_id:
            self._dirty[PRINT_JOBS][event.job_id] = None
        self._wake.set()
        if self._flush is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush_entities()
            return
        self._flush = loop.call_soon(self.flush_entities)

    def _entity(self, entity_type: str, world_id: str) -> JsonObject | None:
        """Return the current entity of a printer or job, if it still exists."""
        world = self.ctx.world
        if entity_type == PRINTERS:
            printer = world.printers.get(world_id)
            return dict(entities.printer_entity(self.ctx, printer)) if printer else None
        job = world.jobs.get(world_id)
        return dict(entities.job_entity(self.ctx, job)) if job else None

    def flush_entities(self) -> int:
        """Publish entity change events for everything touched since the last flush."""
        self._flush = None
        sent = 0
        for entity_type, dirty in self._dirty.items():
            inserted: JsonObject = {}
            updated: JsonObject = {}
            changes: JsonObject = {}
            for world_id in list(dirty):
                if (entity := self._entity(entity_type, world_id)) is None:
                    continue
                old = self._known.get((entity_type, world_id))
                self._known[entity_type, world_id] = entity
                if old is None:
                    inserted[entity["id"]] = entity
                    continue
                diff = {k: v for k, v in entity.items() if k != "updatedAt" and old.get(k) != v}
                if diff:
                    updated[entity["id"]] = entity
                    changes[entity["id"]] = {**diff, "updatedAt": entity["updatedAt"]}
            dirty.clear()
            topic = self.entities_topic(entity_type)
            if inserted:
                message = {"entityType": entity_type, "action": "INSERT", "entities": inserted}
                self._send(topic, {**message, "changes": {}}, retain=False)
                sent += 1
            if updated:
                message = {"entityType": entity_type, "action": "UPDATE", "entities": updated}
                self._send(topic, {**message, "changes": changes}, retain=False)
                sent += 1
        return sent
