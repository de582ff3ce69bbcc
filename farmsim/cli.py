"""Command line of farmsim: `python -m farmsim`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from .context import BAMBU_BROKERS, FORMER_BROKERS, SimConfig
from .server import FarmSim

LOGGER = logging.getLogger("farmsim")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m farmsim",
        description="Simulate AutoPrintFarm, Printago and Bambu Lab printers on loopback.",
    )
    add = parser.add_argument
    add("--printers", type=int, default=3, help="number of simulated printers (default 3)")
    add("--time-scale", type=float, default=1.0, help="simulated seconds per real second")
    add("--connection-file", type=Path, default=Path("farmsim.json"), help="where to write it")
    add("--seed", type=int, default=0, help="seed of names, ids and credentials")
    add("--demo", action="store_true", help="queue a few jobs so the farm is busy at once")
    add("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    add("--autoprintfarm-port", type=int, default=0, help="0 picks a free port")
    add("--printago-port", type=int, default=0, help="0 picks a free port")
    add("--admin-port", type=int, default=0, help="0 picks a free port")
    add("--rate-limit", type=int, default=100, help="AutoPrintFarm requests per key per hour")
    add("--printago-per-minute", type=int, default=60)
    add("--printago-per-hour", type=int, default=600)
    add("--report-interval", type=float, default=1.0, help="real seconds between MQTT reports")
    add(
        "--bambu-broker",
        choices=(*BAMBU_BROKERS, *FORMER_BROKERS),
        default="shared",
        help="one Mosquitto for the printers (shared, default) or one per printer (dedicated);"
        " the former names embedded and mosquitto stand for them",
    )
    add("--state-dir", type=Path, default=None, help="where certificates are kept")
    add("--latency-ms", type=float, default=0.0, help="added latency of both REST services")
    add("--error-rate", type=float, default=0.0, help="share of REST requests answered 503")
    add("--drop-rate", type=float, default=0.0, help="share of REST responses dropped")
    add("--rate-limit-storm", action="store_true", help="answer every REST request with 429")
    add("--malformed-rate", type=float, default=0.0, help="share of MQTT payloads malformed")
    add("--truncated-rate", type=float, default=0.0, help="share of MQTT payloads truncated")
    add("--log-level", default="INFO")
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Return the simulation config the arguments describe."""
    return SimConfig(
        host=args.host,
        printers=args.printers,
        time_scale=args.time_scale,
        seed=args.seed,
        demo=args.demo,
        autoprintfarm_port=args.autoprintfarm_port,
        printago_port=args.printago_port,
        admin_port=args.admin_port,
        autoprintfarm_rate_limit=args.rate_limit,
        printago_limits=((args.printago_per_minute, 60.0), (args.printago_per_hour, 3600.0)),
        report_interval=args.report_interval,
        bambu_broker=args.bambu_broker,
        state_dir=args.state_dir,
    )


def apply_fault_flags(sim: FarmSim, args: argparse.Namespace) -> None:
    """Switch on the faults given on the command line."""
    for service in ("autoprintfarm", "printago"):
        sim.ctx.faults.update(
            service,
            {
                "latency_ms": args.latency_ms,
                "error_rate": args.error_rate,
                "drop_rate": args.drop_rate,
                "rate_limit_storm": bool(args.rate_limit_storm),
            },
        )
    sim.ctx.faults.update(
        "mqtt", {"malformed_rate": args.malformed_rate, "truncated_rate": args.truncated_rate}
    )


async def run(args: argparse.Namespace) -> None:
    """Run farmsim until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    path = args.connection_file.resolve()
    try:
        async with FarmSim(config_from_args(args)) as sim:
            apply_fault_flags(sim, args)
            sim.write_connection_file(path)
            LOGGER.info(
                "farmsim ready: %d printers, time scale %g, connection file %s",
                len(sim.world.printers),
                sim.world.clock.time_scale,
                path,
            )
            await stop.wait()
            LOGGER.info("farmsim stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run farmsim."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    asyncio.run(run(args))
