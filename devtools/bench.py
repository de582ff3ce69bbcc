"""The printfarm benchmark (`scripts/bench`): a real Home Assistant against farmsim.

For each farm size (10, 100 and 200 printers by default, after an empty farm as the memory
baseline) the benchmark runs farmsim inside its own process, so it can watch the simulated
printers through farmsim's listeners (see bench_probe), and Home Assistant as a subprocess
(`python -m homeassistant`, started, onboarded and configured with the demo's harness: the
config flow, then one Bambu LAN subentry per printer, each printer on its own MQTT connection
over TLS; or, with `--service printago`, one Printago entry and its realtime feed). Home
Assistant runs without recorder, history or frontend (`--recorder` adds the recorder), so
its CPU is printfarm's and the state machine's.

The farm: every printer gets a week-long job and the simulated clock is moved past
preparing and heating, so every printer prints throughout; each reports once a second
(`report_interval` 1 s; deltas from P1/A1, full reports from X1C) at time scale 60, so each
report carries a change (the minutes remaining), as a real printer's fluctuating
temperatures do. Each printer reports on its own beat of the second, as real printers do
(`--lockstep` makes every printer report at the same moment).

Then, for each size, in order:

- Setup: farmsim's budget becomes the service's (AutoPrintFarm's free tier, 100 requests an
  hour; a larger one is used while the printers are added, each addition reloading the
  entry) and the entry is reloaded. Setup time runs from the reload request to the entry
  loaded and to the first pushed state of every printer (its nozzle temperature, watched
  with `subscribe_entities`, whose `last_updated` times are Home Assistant's own).
- After a warm-up (past the entity registry's delayed save), the measured window
  (`--seconds`) with a websocket subscription to `state_changed`:
  - Push latency: an event's `time_fired` minus the moment the first report carrying the
    state's value left farmsim (farmsim's paho client finished writing it to Mosquitto,
    which passes it on to Home Assistant; the layer, time remaining and progress sensors,
    whose values only move one way in a print). Both clocks are this
    machine's. Home Assistant's garbage collections are logged from inside its process (a
    sitecustomize on its PYTHONPATH, `--no-gc-log` to skip) to show which delays they cause.
  - State writes per report: `state_changed` events of printfarm entities divided by the
    reports the printers published. Entities written without a change are counted from
    `last_reported` > `last_updated` (Home Assistant moves only `last_reported` then).
  - Staleness: the age of a layer change in farmsim's world (noted when the world advanced
    the printer) when Home Assistant showed it, and when a poller saw it: the poller reads every
    page of AutoPrintFarm's printer list every `--poll-interval` (30) seconds with
    printfarm's REST client and a key of its own, as OctoPrint or PrusaLink integrations
    update; its requests per hour and the 429s they would meet follow from its pages.
- A quiet window (`--quiet-seconds`) without any subscriber: Home Assistant's CPU per
  report, from /proc/<pid>/stat of its process only (utime + stime of all its threads),
  divided by the reports. (It is also given for the measured window, where the benchmark's
  subscriber costs Home Assistant the events' JSON.)
- Memory: Home Assistant's RSS at the end; per printer as the slope over the sizes, and as
  (RSS - RSS of the empty farm) / printers.
- API use: the requests farmsim counted for Home Assistant's key in both windows and its
  429 answers; and the integration's own plan, from its diagnostics (`refresh_interval`)
  times the requests a refresh took (the setup's requests minus the account check), against
  the budget.

The tables are printed as markdown (`--markdown` also writes them to a file, `--render`
prints those of an earlier JSON) and the JSON goes to bench-results/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from custom_components.printfarm.api import AutoPrintFarm, RetryPolicy
from farmsim import autoprintfarm
from farmsim.context import SimConfig, fingerprint
from farmsim.server import FarmSim

from .bench_hass import (
    GC_LOG,
    BenchHass,
    FirstStates,
    StateWatcher,
    machine,
    read_gc_log,
    running_hass,
)
from .bench_markdown import render_markdown
from .bench_probe import (
    LayerWatcher,
    LoopMonitor,
    Poller,
    PublishRecorder,
    start_prints,
)
from .bench_report import SizeRun, analyse
from .harness import (
    DOMAIN,
    ROOT,
    SERVICE_AUTOPRINTFARM,
    SERVICE_PRINTAGO,
    FarmConnection,
    FarmService,
    HarnessError,
    Registry,
    add_printer,
    wait_for_entities,
)

LOGGER = logging.getLogger("devtools.bench")

# While printers are added (each addition reloads the entry) the budget is this large.
SETUP_RATE_LIMIT = 1_000_000
POLL_KEY = "apf_bench_poller_00000000_poll"
BASELINE_SECONDS = 10.0
# How long a reloaded entry may take until every printer showed its state
SETUP_TIMEOUT = 120.0


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    """What the benchmark runs."""

    sizes: tuple[int, ...] = (10, 100, 200)
    baseline: bool = True
    seconds: float = 60.0
    quiet_seconds: float = 30.0
    warmup: float = 15.0
    time_scale: float = 60.0
    report_interval: float = 1.0
    rate_limit: int = 100
    poll_interval: float = 30.0
    service: str = SERVICE_AUTOPRINTFARM
    recorder: bool = False
    lockstep: bool = False
    gc_log: bool = True
    output: Path | None = None
    markdown: Path | None = None
    state_dir: Path | None = None
    start_timeout: float = 180.0
    settle_timeout: float = 120.0

    def runs(self) -> tuple[int, ...]:
        """Return the farm sizes to run, the empty baseline farm first."""
        return ((0,) if self.baseline and 0 not in self.sizes else ()) + self.sizes


def say(message: str) -> None:
    """Tell the person running the benchmark."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)  # noqa: T201


def messages(sim: FarmSim, service: str) -> int:
    """Return the MQTT messages published so far to Home Assistant's connections.

    These are the Bambu printers' messages on the LAN (reports and command answers), or for
    Printago the realtime feed's printer stats.
    """
    counters = sim.ctx.counters
    published = (
        counters.printago_published if service == SERVICE_PRINTAGO else counters.mqtt_published
    )
    return sum(published.values())


def requests_of(sim: FarmSim, key: str, service: str = SERVICE_AUTOPRINTFARM) -> int:
    """Return the requests farmsim counted for an API key of a service."""
    counted = sim.ctx.counters.requests.get(service)
    return counted.get(fingerprint(key), 0) if counted else 0


def farm_service(farm: FarmConnection, options: BenchOptions) -> FarmService:
    """Return the farm service the benchmark adds: AutoPrintFarm with LAN printers, or Printago."""
    return next(s for s in farm.services() if s.service == options.service)


def api_requests(sim: FarmSim, farm: FarmConnection, options: BenchOptions) -> int:
    """Return the requests of Home Assistant's key so far."""
    service = farm_service(farm, options)
    return requests_of(sim, service.api_key, service.service)


async def add_farm(
    bench: BenchHass, farm: FarmConnection, run: SizeRun, options: BenchOptions
) -> Registry:
    """Add the farm's entry (and a LAN subentry per printer); return the registry."""
    client = bench.client
    service = farm_service(farm, options)
    started = time.monotonic()
    entry = await client.config_flow(DOMAIN, service.answers())
    run.entry_id = str(entry["entry_id"])
    await client.wait_entry_loaded(run.entry_id)
    run.add_entry_s = time.monotonic() - started
    started = time.monotonic()
    for printer in service.printers:
        bench.check()
        await add_printer(client, run.entry_id, printer)
        await client.wait_entry_loaded(run.entry_id, within=options.settle_timeout)
    run.add_printers_s = time.monotonic() - started
    if not farm.printers:
        return await client.registry()
    return await wait_for_entities(client, options.settle_timeout)


async def measure_setup(
    bench: BenchHass, sim: FarmSim, farm: FarmConnection, run: SizeRun, options: BenchOptions
) -> None:
    """Reload the entry; time it until loaded and until every printer pushed its state."""
    client = bench.client
    pushed = frozenset(e for e, (_, key) in run.entities.items() if key == "nozzle_temperature")
    events = frozenset(e for e, (_, key) in run.entities.items() if key == "print")
    watcher = FirstStates(client=client, entity_ids=pushed, event_ids=events)
    watching = asyncio.create_task(watcher.run(), name="bench-setup-watcher")
    try:
        async with asyncio.timeout(30):
            await watcher.subscribed.wait()
        before = api_requests(sim, farm, options)
        run.setup_started = watcher.since = time.time()
        started = time.monotonic()
        await client.request("POST", f"/api/config/config_entries/entry/{run.entry_id}/reload")
        await client.wait_entry_loaded(run.entry_id)
        run.loaded_s = time.monotonic() - started
        deadline = started + SETUP_TIMEOUT
        while len(watcher.first) < len(pushed) and time.monotonic() < deadline:
            bench.check()
            if watching.done():
                watching.result()
            await asyncio.sleep(0.05)
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
    run.setup_states = len(watcher.first)
    run.setup_events = dict(watcher.events)
    if run.setup_states < len(pushed):
        run.errors.append(f"setup: {len(pushed) - run.setup_states} printers sent no state")
    last = max(watcher.first.values(), default=run.setup_started + run.loaded_s)
    run.all_states_s = last - run.setup_started
    run.setup_requests = api_requests(sim, farm, options) - before


async def bench_size(printers: int, options: BenchOptions, state_dir: Path) -> SizeRun:
    """Run the benchmark on a farm of `printers` printers."""
    if not printers:
        # The empty farm is the memory and idle baseline: short windows do
        options = replace(
            options,
            seconds=min(options.seconds, BASELINE_SECONDS),
            quiet_seconds=min(options.quiet_seconds, BASELINE_SECONDS),
            warmup=min(options.warmup, BASELINE_SECONDS),
        )
    config = SimConfig(
        printers=printers,
        time_scale=options.time_scale,
        report_interval=options.report_interval,
        spread_reports=not options.lockstep,
        autoprintfarm_rate_limit=SETUP_RATE_LIMIT,
        state_dir=state_dir / "farmsim",
    )
    printago = options.service == SERVICE_PRINTAGO
    hourly = max(config.printago_limits, key=lambda limit: limit[1])[0]
    run = SizeRun(
        printers=printers,
        options=asdict(options),
        service=options.service,
        limit_per_hour=hourly if printago else options.rate_limit,
    )
    recorder = run.recorder = PublishRecorder()
    layers = run.layers = LayerWatcher()
    async with FarmSim(config) as sim:
        recorder.install(sim, printago=printago)
        try:
            start_prints(sim, options.service)
            autoprintfarm.register_api_key(sim.ctx, POLL_KEY, autoprintfarm.READ_SCOPES)
            farm = FarmConnection.from_json(sim.connection)
            async with running_hass(
                state_dir,
                recorder=options.recorder,
                gc_log=options.gc_log,
                start_timeout=options.start_timeout,
            ) as bench:
                await _measure(bench, sim, farm, run, options)
            run.gc_pauses = read_gc_log(state_dir / GC_LOG)
        finally:
            layers.uninstall()
            recorder.uninstall()
    return run


async def _measure(
    bench: BenchHass,
    sim: FarmSim,
    farm: FarmConnection,
    run: SizeRun,
    options: BenchOptions,
) -> None:
    """Take every measurement of one farm size (see the module's docstring)."""
    client = bench.client
    say(f"{run.printers} printers: Home Assistant is up (pid {bench.pid})")
    await asyncio.sleep(2.0)
    run.sample("onboarded", bench.pid)
    await asyncio.sleep(5.0)
    run.sample("idle", bench.pid)
    registry = await add_farm(bench, farm, run, options)
    say(f"{run.printers} printers added in {run.add_printers_s:.1f} s")
    run.map_entities(registry)
    # The free tier from here on: the budget the integration plans its refreshes from
    sim.config.autoprintfarm_rate_limit = options.rate_limit
    autoprintfarm.reset_rate_limits(sim.ctx)
    await measure_setup(bench, sim, farm, run, options)
    say(f"{run.printers} printers: setup {run.all_states_s:.2f} s; warming up")
    run.watcher = StateWatcher(client=client, entity_ids=frozenset(run.entities))
    watching = asyncio.create_task(run.watcher.run(), name="bench-watcher")
    try:
        async with asyncio.timeout(30):
            await run.watcher.subscribed.wait()
        await asyncio.sleep(options.warmup)
        await _window(bench, sim, farm, run, options)
    finally:
        if watching.done() and not watching.cancelled() and (err := watching.exception()):
            run.errors.append(f"state watcher: {err}")
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
    # The quiet window: no subscriber, only printfarm and the state machine at work
    await asyncio.sleep(1.0)
    run.quiet_start = time.time()
    run.sample(
        "quiet_start", bench.pid, messages(sim, options.service), api_requests(sim, farm, options)
    )
    await asyncio.sleep(options.quiet_seconds)
    bench.check()
    run.sample(
        "quiet_end", bench.pid, messages(sim, options.service), api_requests(sim, farm, options)
    )
    run.states = await client.states()
    diagnostics = await client.request("GET", f"/api/diagnostics/config_entry/{run.entry_id}")
    run.diagnostics = diagnostics.get("data", {}) if isinstance(diagnostics, dict) else {}
    run.rate_limited = sim.ctx.counters.rate_limited.get(options.service, 0)


async def _window(
    bench: BenchHass, sim: FarmSim, farm: FarmConnection, run: SizeRun, options: BenchOptions
) -> None:
    """Measure the window: latency, writes, CPU with a subscriber, and the poller."""
    poller = Poller(
        client=AutoPrintFarm(
            base_url=farm.autoprintfarm_url,
            api_key=POLL_KEY,
            session=bench.session,
            retry=RetryPolicy(attempts=1),
        ),
        interval=options.poll_interval,
    )
    monitor = LoopMonitor()
    # The poller reads AutoPrintFarm's printer list (Printago's has no layer)
    rounds = int(options.seconds // options.poll_interval) + 1 if run.poller_wanted else 0
    poll_before = requests_of(sim, POLL_KEY)
    run.window_start = time.time()
    bench_cpu = time.process_time()
    run.sample(
        "window_start", bench.pid, messages(sim, options.service), api_requests(sim, farm, options)
    )
    if run.layers is not None:
        run.layers.install(sim)
    sampling = asyncio.create_task(monitor.run(), name="bench-loop-monitor")
    polling = asyncio.create_task(poller.run(rounds), name="bench-poller")
    try:
        await asyncio.sleep(options.seconds)
        bench.check()
        run.sample(
            "window_end",
            bench.pid,
            messages(sim, options.service),
            api_requests(sim, farm, options),
        )
        run.window_end = time.time()
        run.bench_cpu_s = time.process_time() - bench_cpu
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(options.poll_interval):
                await asyncio.shield(polling)
    finally:
        for task in (sampling, polling):
            task.cancel()
        await asyncio.gather(sampling, polling, return_exceptions=True)
    run.poller = poller if run.poller_wanted else None
    run.monitor = monitor
    run.poll_requests = requests_of(sim, POLL_KEY) - poll_before


async def run_benchmark(options: BenchOptions) -> dict[str, Any]:
    """Run every farm size; return the report (also written as JSON)."""
    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        base = options.state_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="printfarm-bench-"))
        )
        for printers in options.runs():
            say(f"{printers} printers: starting farmsim and Home Assistant")
            run = await bench_size(printers, options, base / f"printers-{printers}")
            results.append(analyse(run))
            say(f"{printers} printers: done")
    report = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "runs": results,
    }
    output = options.output or ROOT / "bench-results" / f"bench-{int(time.time())}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    report["output"] = str(output)
    return report


def _sizes(text: str) -> tuple[int, ...]:
    """Parse `10,100,200`."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as err:
        msg = f"not a list of printer counts: {text!r}"
        raise argparse.ArgumentTypeError(msg) from err
    if not sizes or any(size < 0 for size in sizes):
        msg = f"not a list of printer counts: {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return sizes


def build_parser() -> argparse.ArgumentParser:
    """Return the command line's parser."""
    defaults = BenchOptions()
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=(
            "Benchmark printfarm in a real Home Assistant against farmsim: push latency, "
            "CPU and state writes per message, memory, setup time, farm API use, and a "
            "30-second poller for comparison. Prints markdown tables, writes JSON."
        ),
    )
    add = parser.add_argument
    add("--sizes", type=_sizes, default=defaults.sizes, help="printer counts (default 10,100,200)")
    add("--no-baseline", dest="baseline", action="store_false", help="skip the empty farm run")
    add("--seconds", type=float, default=defaults.seconds, help="measured window per size (60)")
    add("--quiet-seconds", type=float, default=defaults.quiet_seconds, help="CPU-only window (30)")
    add("--warmup", type=float, default=defaults.warmup, help="seconds after setup (15)")
    add("--time-scale", type=float, default=defaults.time_scale, help="farmsim time scale (60)")
    add("--rate-limit", type=int, default=defaults.rate_limit, help="AutoPrintFarm budget/h (100)")
    add("--poll-interval", type=float, default=defaults.poll_interval, help="poller period (30)")
    add(
        "--service",
        choices=(SERVICE_AUTOPRINTFARM, SERVICE_PRINTAGO),
        default=defaults.service,
        help="AutoPrintFarm with a Bambu LAN connection per printer (default), or Printago "
        "with its realtime feed (one connection for the store)",
    )
    add("--recorder", action="store_true", help="run Home Assistant with its recorder")
    add("--lockstep", action="store_true", help="let every printer report at the same moment")
    add("--no-gc-log", dest="gc_log", action="store_false", help="do not log HA's GC pauses")
    add("--output", type=Path, default=None, help="JSON file (default bench-results/bench-*.json)")
    add("--markdown", type=Path, default=None, help="also write the tables to this file")
    add("--state-dir", type=Path, default=None, help="keep logs and config here (default: temp)")
    add("--render", type=Path, default=None, help="only print the tables of a JSON report")
    return parser


def options_from_args(argv: Sequence[str] | None = None) -> BenchOptions:
    """Return the options the command line asks for."""
    args = build_parser().parse_args(argv)
    return _options(args)


def _options(args: argparse.Namespace) -> BenchOptions:
    """Return the options of parsed arguments."""
    return replace(
        BenchOptions(),
        **{k: v for k, v in vars(args).items() if k in BenchOptions.__dataclass_fields__},
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with --render, print the tables of an earlier run)."""
    args = build_parser().parse_args(argv)
    options = _options(args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.render is not None:
        report = json.loads(args.render.read_text(encoding="utf-8"))
        report["output"] = str(args.render)
    else:
        try:
            report = asyncio.run(run_benchmark(options))
        except HarnessError as err:
            say(f"failed: {err}")
            return 1
    text = render_markdown(report)
    print(text)  # noqa: T201
    if options.markdown is not None:
        options.markdown.parent.mkdir(parents=True, exist_ok=True)
        options.markdown.write_text(text, encoding="utf-8")
    if args.render is None:
        say(f"JSON written to {report['output']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
