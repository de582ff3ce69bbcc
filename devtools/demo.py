"""The printfarm demo (`scripts/develop`): farmsim and a real Home Assistant with printfarm.

Everything is set up through Home Assistant's own APIs: onboarding creates the demo user, the
config flow adds an AutoPrintFarm and a Printago entry against farmsim, the subentry flow adds
each printer's Bambu LAN connection (its CA certificate checked), and the dashboard is
written from the entities printfarm created. Ctrl-C (or SIGTERM) stops Home Assistant, then
farmsim, and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .const import DASHBOARD_URL, ROOT, SERVICE_AUTOPRINTFARM, SERVICE_PRINTAGO
from .errors import HarnessError
from .farm_connection import FarmService
from .harness import DemoOptions, RunningDemo, start_demo
from .onboarding import DemoUser
from .processes import SignalWaiter

DEFAULT_PASSWORD = DemoUser().password


ENVIRONMENT = f"""\
environment:
  PRINTFARM_DEMO_HOST      address Home Assistant listens on (default 127.0.0.1)
  PRINTFARM_DEMO_PORT      its port (default 8123)
  PRINTFARM_DEMO_USERNAME  the demo user's login (default demo; the user is named "Demo")
  PRINTFARM_DEMO_PASSWORD  its password (default {DEFAULT_PASSWORD})
  PRINTFARM_DEMO_KEEP_STATE=1
                           keep Home Assistant's state from the last run instead of
                           onboarding afresh (meant for a real farm; farmsim's ports change)
  FARMSIM_PRINTERS         simulated printers (default 6, models mixed)
  FARMSIM_TIME_SCALE       simulated seconds per real second (default 60)

  A real farm instead of farmsim (no farmsim is started; one printfarm entry is added):
  PRINTFARM_SERVICE        autoprintfarm or printago
  PRINTFARM_URL            the service's API address, e.g. https://api.autoprintfarm.com/v1
  PRINTFARM_API_KEY        its API key
  PRINTFARM_STORE_ID       the Printago store id (printago only)
  PRINTFARM_REALTIME_URL   Printago's realtime feed, when the config flow asks for it
  Printers' Bambu LAN connections are then added in Home Assistant (the entry's "Add
  printer"); the dashboard is written to config/dashboards/local.yaml, which git ignores.

files: Home Assistant's log in .demo/hass.log, farmsim's in .demo/farmsim.log, farmsim's
connection file in .demo/farmsim.json, a long-lived access token in .demo/token.
"""


def say(message: str = "") -> None:
    """Tell the person running the demo."""
    print(message, flush=True)  # noqa: T201


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    value = environ.get(name, "").strip()
    try:
        return float(value) if value else default
    except ValueError as err:
        msg = f"{name}={value!r} is not a number"
        raise ValueError(msg) from err


def real_farm(environ: Mapping[str, str]) -> FarmService | None:
    """Return the real farm the environment names, or None for farmsim."""
    service = environ.get("PRINTFARM_SERVICE", "").strip().lower()
    if not service:
        return None
    if service not in (SERVICE_AUTOPRINTFARM, SERVICE_PRINTAGO):
        msg = f"PRINTFARM_SERVICE must be {SERVICE_AUTOPRINTFARM} or {SERVICE_PRINTAGO}"
        raise ValueError(msg)
    needed = ["PRINTFARM_URL", "PRINTFARM_API_KEY"]
    if service == SERVICE_PRINTAGO:
        needed.append("PRINTFARM_STORE_ID")
    if missing := [name for name in needed if not environ.get(name, "").strip()]:
        msg = f"PRINTFARM_SERVICE={service} needs {', '.join(missing)}"
        raise ValueError(msg)
    return FarmService(
        service=service,
        url=environ["PRINTFARM_URL"].strip(),
        api_key=environ["PRINTFARM_API_KEY"].strip(),
        store_id=environ.get("PRINTFARM_STORE_ID", "").strip(),
        realtime_url=environ.get("PRINTFARM_REALTIME_URL", "").strip(),
    )


def options_from_env(environ: Mapping[str, str], root: Path = ROOT) -> DemoOptions:
    """Return the demo's options from the environment (see ENVIRONMENT)."""
    farm = real_farm(environ)
    port = int(_float(environ, "PRINTFARM_DEMO_PORT", 8123))
    dashboard = "local.yaml" if farm else "printfarm.yaml"
    return DemoOptions(
        config_dir=root / "config",
        state_dir=root / ".demo",
        host=environ.get("PRINTFARM_DEMO_HOST", "").strip() or "127.0.0.1",
        port=port,
        user=DemoUser(
            username=environ.get("PRINTFARM_DEMO_USERNAME", "").strip() or "demo",
            password=environ.get("PRINTFARM_DEMO_PASSWORD", "") or DEFAULT_PASSWORD,
        ),
        services=[farm] if farm else None,
        printers=int(_float(environ, "FARMSIM_PRINTERS", 6)),
        time_scale=_float(environ, "FARMSIM_TIME_SCALE", 60.0),
        fresh=environ.get("PRINTFARM_DEMO_KEEP_STATE", "") not in ("1", "true", "yes"),
        dashboard_path=root / "config" / "dashboards" / dashboard,
    )


def dashboard_url(demo: RunningDemo) -> str:
    """Return the address of the demo dashboard's first view."""
    views = (demo.dashboard or {}).get("views") or [{"path": ""}]
    return f"{demo.url}/{DASHBOARD_URL}/{views[0]['path']}"


def banner(demo: RunningDemo) -> str:
    """Return what the demo prints once it is up."""
    options = demo.options
    user = options.user
    logs = [options.state_dir / "hass.log"]
    if demo.farmsim is not None:
        logs.append(demo.farmsim.log_path)
    lines = [
        "",
        "printfarm demo is running",
        f"  Dashboard:       {dashboard_url(demo)}",
        f"  Home Assistant:  {demo.url}",
        f"  Log in as:       {user.username} / {user.password}  (user {user.name!r})",
    ]
    if demo.farm is not None:
        farm = demo.farm
        lines.append(
            f"  farmsim:         {len(farm.printers)} printers, admin API {farm.admin_url}"
        )
    lines.extend(
        f"  printfarm entry: {entry.get('title')} ({entry.get('service')})"
        for entry in demo.entries
    )
    if demo.operator is not None:
        lines.append(
            "  Demo operator:   clears finished beds and queues jobs to keep the farm busy"
        )
    lines += [
        f"  Logs:            {', '.join(str(path) for path in logs)}",
        f"  API token:       {options.state_dir / 'token'}",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def write_token(demo: RunningDemo) -> None:
    """Keep the long-lived access token for scripts (readable by the owner only)."""
    path = demo.options.state_dir / "token"
    path.write_text(demo.token + "\n", encoding="utf-8")
    path.chmod(0o600)


async def run(options: DemoOptions) -> int:
    """Run the demo until SIGINT or SIGTERM; return the exit status."""
    async with SignalWaiter() as signals:
        starting = asyncio.ensure_future(start_demo(options, say))
        stop = asyncio.ensure_future(signals.event.wait())
        try:
            await asyncio.wait({starting, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                say("Stopping...")
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
                return 0
            try:
                demo = starting.result()
            except HarnessError as err:
                say(f"The demo could not start: {err}")
                return 1
            write_token(demo)
            say(banner(demo))
            exited = asyncio.ensure_future(demo.wait_for_exit())
            await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
            if exited.done():
                process = exited.result()
                say(f"{process.name} exited unexpectedly (status {process.returncode}):")
                say(process.log_tail())
                await demo.stop()
                return 1
            exited.cancel()
            await asyncio.gather(exited, return_exceptions=True)
            say("Stopping Home Assistant and farmsim...")
            await demo.stop()
            say("Stopped.")
            return 0
        finally:
            stop.cancel()
            await asyncio.gather(stop, return_exceptions=True)


def build_parser() -> argparse.ArgumentParser:
    """Return the command line's parser (it takes no arguments; the environment configures)."""
    return argparse.ArgumentParser(
        prog="scripts/develop",
        description=(
            "The printfarm demo: farmsim (6 printers of mixed models, AutoPrintFarm and Printago, "
            "time 60x) and a real Home Assistant with printfarm added through its own config "
            "flows, onboarded with a demo user, with a dashboard of the farm. Prints the URL "
            "and credentials; Ctrl-C stops everything."
        ),
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo."""
    build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        options = options_from_env(os.environ)
    except ValueError as err:
        say(f"scripts/develop: {err}")
        return 2
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
