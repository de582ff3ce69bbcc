"""Run farmsim and a real Home Assistant with printfarm, set up through Home Assistant's own APIs.

Nothing here reaches into Home Assistant's internals: it is started as `python -m homeassistant
-c CONFIG` in a subprocess, onboarded through the onboarding HTTP API, and printfarm is added
through the config-flow and subentry-flow REST API, exactly as the frontend would.

This module puts the demo together; its parts live by idea in `processes` (child processes,
ports, signals), `config_dir`, `farm_connection` (what to connect to), `hass_api`,
`onboarding`, `flows` and `registry` (Home Assistant's APIs, joined in `hass_client`) and
`farm_operator`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from .config_dir import ConfigLock, prepare_config
from .const import (
    DASHBOARD_URL,
    DOMAIN,
    ROOT,
    SERVICE_AUTOPRINTFARM,
    SERVICE_PRINTAGO,
)
from .errors import HarnessError
from .farm_connection import FarmConnection, FarmService
from .farm_operator import FarmOperator
from .flows import add_printer
from .hass_client import HomeAssistantClient
from .onboarding import DemoUser, Tokens
from .processes import (
    FarmsimProcess,
    HassProcess,
    ManagedProcess,
    SignalWaiter,
    free_port,
    port_in_use,
    stop_all,
)
from .registry import Registry, assist_entities, wait_for_entities

# The demo's own names, and the parts' names callers have always imported from here
__all__ = [
    "DASHBOARD_URL",
    "DOMAIN",
    "ROOT",
    "SERVICE_AUTOPRINTFARM",
    "SERVICE_PRINTAGO",
    "DemoOptions",
    "DemoUser",
    "FarmConnection",
    "FarmOperator",
    "FarmService",
    "HarnessError",
    "HassProcess",
    "HomeAssistantClient",
    "ManagedProcess",
    "Progress",
    "Registry",
    "RunningDemo",
    "SignalWaiter",
    "Tokens",
    "add_printer",
    "free_port",
    "port_in_use",
    "prepare_config",
    "start_demo",
    "wait_for_entities",
]


@dataclass(kw_only=True)
class DemoOptions:
    """What `start_demo` brings up."""

    config_dir: Path = ROOT / "config"
    state_dir: Path = ROOT / ".demo"
    host: str = "127.0.0.1"
    port: int = 8123
    user: DemoUser = field(default_factory=DemoUser)
    # None: start farmsim and add both of its services; else add these services only.
    services: list[FarmService] | None = None
    printers: int = 6
    time_scale: float = 60.0
    # The demo's farm allows 1000 AutoPrintFarm requests an hour (farmsim's default is the
    # service's 100), so printfarm refreshes the queue every 30 s instead of every 5 min.
    farmsim_args: tuple[str, ...] = ("--rate-limit", "1000")
    # Wipe Home Assistant's runtime state first (a fresh onboarding each run).
    fresh: bool = True
    # Where to write the dashboard made from the live entities; None: write none.
    dashboard_path: Path | None = None
    # Expose the printers' main sensors to Assist.
    expose: bool = True
    # Keep the simulated farm busy (clear finished beds, queue new jobs); farmsim only.
    operate: bool = True
    # Seconds to wait for every printer's pushed state before the dashboard is written.
    settle_timeout: float = 45.0
    start_timeout: float = 240.0


@dataclass(kw_only=True)
class RunningDemo:
    """A running demo: farmsim (unless a real farm), Home Assistant and a logged-in client."""

    options: DemoOptions
    hass: HassProcess
    client: HomeAssistantClient
    session: aiohttp.ClientSession
    farmsim: FarmsimProcess | None = None
    farm: FarmConnection | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    registry: Registry | None = None
    dashboard: dict[str, Any] | None = None
    token: str = ""
    operator: FarmOperator | None = None
    operator_task: asyncio.Task[None] | None = None
    lock: ConfigLock | None = None

    @property
    def url(self) -> str:
        """Return Home Assistant's base URL."""
        return self.hass.url

    def processes(self) -> list[ManagedProcess]:
        """Return the child processes, Home Assistant first."""
        return [p for p in (self.hass, self.farmsim) if p is not None]

    async def wait_for_exit(self) -> ManagedProcess:
        """Wait until one of the child processes exits; return it."""
        waits = {asyncio.ensure_future(p.wait()): p for p in self.processes()}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            return waits[next(iter(done))]
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def stop(self) -> None:
        """Stop the operator, Home Assistant, then farmsim, and close the HTTP session."""
        if self.operator_task is not None:
            self.operator_task.cancel()
            await asyncio.gather(self.operator_task, return_exceptions=True)
            self.operator_task = None
        await stop_all(self.session, self.hass, self.farmsim)
        if self.lock is not None:
            self.lock.release()


Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    """Report nothing."""


async def start_demo(options: DemoOptions, progress: Progress = _quiet) -> RunningDemo:
    """Bring the whole demo up; on failure, stop whatever was started and raise."""
    options.state_dir.mkdir(parents=True, exist_ok=True)
    if port_in_use(options.host, options.port):
        msg = f"{options.host}:{options.port} is in use (another Home Assistant running?)"
        raise HarnessError(msg)
    lock = ConfigLock(options.config_dir)
    lock.acquire()
    farmsim: FarmsimProcess | None = None
    hass: HassProcess | None = None
    session: aiohttp.ClientSession | None = None
    try:
        farm: FarmConnection | None = None
        services = options.services
        if services is None:
            progress(
                f"Starting farmsim: {options.printers} printers, "
                f"time running {options.time_scale:g}x faster"
            )
            farmsim = FarmsimProcess(
                state_dir=options.state_dir,
                printers=options.printers,
                time_scale=options.time_scale,
                extra_args=options.farmsim_args,
            )
            await farmsim.start()
            farm = await farmsim.wait_ready()
            services = farm.services()

        progress(f"Starting Home Assistant on {options.host}:{options.port}")
        prepare_config(options.config_dir, fresh=options.fresh)
        hass = HassProcess(
            config_dir=options.config_dir,
            log_path=options.state_dir / "hass.log",
            host=options.host,
            port=options.port,
            dashboard=options.dashboard_path,
        )
        await hass.start()
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        client = HomeAssistantClient(hass.url, session)
        await client.wait_until_up(options.start_timeout, hass)

        demo = RunningDemo(
            options=options,
            hass=hass,
            client=client,
            session=session,
            farmsim=farmsim,
            farm=farm,
            lock=lock,
        )
        await _await_or_exit(_set_up(demo, services, progress), demo)
    except BaseException:
        await stop_all(session, hass, farmsim)
        lock.release()
        raise
    return demo


async def _await_or_exit[T](work: Awaitable[T], demo: RunningDemo) -> T:
    """Await `work`, failing at once if a child process exits meanwhile."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(demo.wait_for_exit())
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        process = watcher.result()
        process.fail(f"{process.name} exited during setup")
    finally:
        for pending in (task, watcher):
            pending.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)


async def _set_up(demo: RunningDemo, services: Sequence[FarmService], progress: Progress) -> None:
    options = demo.options
    client = demo.client
    steps = await client.onboarding_steps()
    if steps.get("user"):
        progress("Home Assistant is already onboarded; logging in")
        await client.login(options.user.username, options.user.password)
    else:
        progress(f"Onboarding Home Assistant (user {options.user.username!r})")
        await client.onboard(options.user)
    demo.token = await client.long_lived_token("printfarm demo")
    client.token = demo.token

    if await client.config_entries(DOMAIN):
        progress("printfarm is already set up (state kept from the last run)")
    else:
        for service in services:
            progress(f"Adding printfarm: {service.service} at {service.url}")
            entry = await client.config_flow(DOMAIN, service.answers())
            entry = await client.wait_entry_loaded(entry["entry_id"])
            demo.entries.append({**entry, "service": service.service})
            for printer in service.printers:
                progress(f"  printer {printer.name}: Bambu LAN {printer.host}:{printer.port}")
                await add_printer(client, entry["entry_id"], printer)
                await client.wait_entry_loaded(entry["entry_id"])

    progress("Waiting for every printer's state")
    demo.registry = await wait_for_entities(client, options.settle_timeout)
    if options.expose:
        await client.expose_to_assist(assist_entities(demo.registry))
    if options.dashboard_path is not None:
        from .dashboard import build_dashboard, write_dashboard  # noqa: PLC0415

        demo.dashboard = build_dashboard(demo.registry)
        write_dashboard(options.dashboard_path, demo.dashboard)
        # Home Assistant reads the file now (and tells its frontends), not in the first browser
        await client.ws_call({"type": "lovelace/config", "url_path": DASHBOARD_URL, "force": True})
    apf = [e for e in demo.entries if e["service"] == SERVICE_AUTOPRINTFARM]
    if options.operate and demo.farm is not None and apf:
        demo.operator = FarmOperator(client, demo.registry, str(apf[0]["entry_id"]))
        demo.operator_task = asyncio.create_task(demo.operator.run(), name="farm-operator")
