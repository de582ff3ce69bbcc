"""The benchmark's view of Home Assistant, from outside: its process, its GC, its events.

Its CPU time and memory come from /proc; its garbage collections from a sitecustomize put on
its PYTHONPATH; what it wrote from its websocket API (`state_changed` events, and
`subscribe_entities` as the frontend uses it); unchanged writes from `last_reported`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from .bench_probe import number
from .harness import (
    DemoUser,
    HarnessError,
    HassProcess,
    HomeAssistantClient,
    free_port,
    prepare_config,
)

GC_LOG = "hass-gc.log"
HASS_CONFIG = """\
# Written by devtools/bench.py: the parts of Home Assistant printfarm needs, nothing else.
homeassistant:
  name: printfarm benchmark
  unit_system: metric
  time_zone: UTC
  country: DE
frontend:
  development_repo: {frontend}
http:
  server_host: 127.0.0.1
  server_port: !env_var PRINTFARM_DEMO_PORT 8123
api:
config:
onboarding:
diagnostics:
logger:
  default: warning
{recorder}"""


@dataclass(kw_only=True)
class BenchHass:
    """A fresh Home Assistant, onboarded, with a logged-in client."""

    hass: HassProcess
    client: HomeAssistantClient
    session: aiohttp.ClientSession

    @property
    def pid(self) -> int:
        """Return the process id of Home Assistant."""
        if self.hass.pid is None:
            msg = "Home Assistant is not running"
            raise HarnessError(msg)
        return self.hass.pid

    def check(self) -> None:
        """Raise when Home Assistant exited."""
        if not self.hass.running:
            self.hass.fail("Home Assistant exited during the benchmark")


@contextlib.asynccontextmanager
async def running_hass(
    state_dir: Path, *, recorder: bool = False, gc_log: bool = True, start_timeout: float = 180.0
) -> AsyncIterator[BenchHass]:
    """Start and onboard a Home Assistant with a fresh config directory; stop it after."""
    config_dir = state_dir / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    frontend = state_dir / "frontend"
    (frontend / "hass_frontend").mkdir(parents=True, exist_ok=True)
    extra = "recorder:\n  commit_interval: 5\n" if recorder else ""
    (config_dir / "configuration.yaml").write_text(
        HASS_CONFIG.format(frontend=frontend, recorder=extra), encoding="utf-8"
    )
    prepare_config(config_dir, fresh=True)
    env: dict[str, str] = {}
    if gc_log:
        site = write_gc_site(state_dir / "site")
        path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
        env = {"PYTHONPATH": path, "PRINTFARM_BENCH_GC_LOG": str(state_dir / GC_LOG)}
    hass = HassProcess(
        config_dir=config_dir, log_path=state_dir / "hass.log", port=free_port(), env=env
    )
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300))
    try:
        await hass.start()
        client = HomeAssistantClient(hass.url, session)
        await client.wait_until_up(start_timeout, hass)
        await client.onboard(DemoUser())
        client.token = await client.long_lived_token("printfarm benchmark")
        yield BenchHass(hass=hass, client=client, session=session)
    finally:
        await session.close()
        await hass.stop()


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
    # Event entities whose events (changes after `since`) are counted by type
    event_ids: frozenset[str] = frozenset()
    since: float = math.inf
    first: dict[str, float] = field(default_factory=dict)
    events: Counter[str] = field(default_factory=Counter)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Subscribe and note until cancelled."""
        watched = sorted(self.entity_ids | self.event_ids)
        subscribe = {"type": "subscribe_entities", "entity_ids": watched}
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
        if entity_id in self.event_ids:
            event_type = (state.get("a") or {}).get("event_type")
            if event_type and at is not None and float(at) >= self.since:
                self.events[str(event_type)] += 1
            return
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
