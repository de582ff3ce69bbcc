"""Child processes (farmsim, Home Assistant), local ports, and the harness's own signals."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import NoReturn, Self

import aiohttp

from .const import LOGGER, ROOT
from .errors import HarnessError
from .farm_connection import FarmConnection

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on `host` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Return whether something already listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Have Linux send SIGTERM to the child when the harness process goes away."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedProcess:
    """A child process in its own session, logged to a file, stopped politely then firmly."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Describe the process; nothing runs until `start`."""
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the process."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        LOGGER.debug("%s started (pid %s): %s", self.name, self.process.pid, " ".join(self.argv))

    @property
    def pid(self) -> int | None:
        """Return the process id, once started."""
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        """Return whether the process was started and has not exited."""
        return self.process is not None and self.process.returncode is None

    @property
    def returncode(self) -> int | None:
        """Return the exit status, once exited."""
        return self.process.returncode if self.process else None

    async def wait(self) -> int:
        """Wait for the process to exit."""
        if self.process is None:
            msg = f"{self.name} was not started"
            raise HarnessError(msg)
        return await self.process.wait()

    async def stop(self, grace: float = 30.0) -> int | None:
        """Send SIGTERM, wait up to `grace` seconds, then kill the process group."""
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                LOGGER.warning("%s did not stop within %gs; killing it", self.name, grace)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        # Children of the process (if any) go with its session
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.returncode

    def log_tail(self, lines: int = 30) -> str:
        """Return the last lines the process logged."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def fail(self, what: str) -> NoReturn:
        """Raise an error about the process, with the end of its log."""
        msg = (
            f"{what} (exit status {self.returncode}); last lines of {self.log_path}:\n"
            f"{self.log_tail()}"
        )
        raise HarnessError(msg)


class FarmsimProcess(ManagedProcess):
    """`python -m farmsim` with a connection file."""

    def __init__(
        self,
        *,
        state_dir: Path,
        printers: int = 6,
        time_scale: float = 60.0,
        demo: bool = True,
        extra_args: Sequence[str] = (),
        python: str = sys.executable,
    ) -> None:
        """Describe the farm to simulate."""
        self.state_dir = state_dir
        self.connection_file = state_dir / "farmsim.json"
        argv = [
            python,
            "-m",
            "farmsim",
            "--printers",
            str(printers),
            "--time-scale",
            f"{time_scale:g}",
            "--state-dir",
            str(state_dir / "farmsim"),
            "--connection-file",
            str(self.connection_file),
            *(["--demo"] if demo else []),
            *extra_args,
        ]
        super().__init__("farmsim", argv, log_path=state_dir / "farmsim.log", cwd=ROOT)

    async def start(self) -> None:
        """Start farmsim, after removing a connection file a previous run left."""
        self.connection_file.unlink(missing_ok=True)
        await super().start()

    async def wait_ready(self, within: float = 60.0) -> FarmConnection:
        """Wait until farmsim wrote its connection file, and return it."""
        deadline = time.monotonic() + within
        while not self.connection_file.exists():
            if not self.running:
                self.fail("farmsim exited before it was ready")
            if time.monotonic() > deadline:
                self.fail(f"farmsim was not ready within {within:g}s")
            await asyncio.sleep(0.1)
        return FarmConnection.load(self.connection_file)


class HassProcess(ManagedProcess):
    """A real Home Assistant: `python -m homeassistant -c CONFIG --skip-pip`.

    `--skip-pip`: every package comes from .venv (requirements_demo.txt); Home Assistant never
    installs anything at run time. The listening address and the dashboard's file reach
    configuration.yaml through the environment (`!env_var PRINTFARM_DEMO_HOST`,
    `PRINTFARM_DEMO_PORT`, `PRINTFARM_DASHBOARD`).
    """

    def __init__(
        self,
        *,
        config_dir: Path,
        log_path: Path,
        host: str = "127.0.0.1",
        port: int = 8123,
        dashboard: Path | None = None,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
    ) -> None:
        """Describe the instance."""
        self.config_dir = config_dir
        self.host = host
        self.port = port
        environ = {
            **os.environ,
            **(env or {}),
            "PRINTFARM_DEMO_HOST": host,
            "PRINTFARM_DEMO_PORT": str(port),
        }
        if dashboard is not None:
            environ["PRINTFARM_DASHBOARD"] = os.path.relpath(dashboard, config_dir)
        argv = [python, "-m", "homeassistant", "-c", str(config_dir), "--skip-pip"]
        super().__init__("Home Assistant", argv, log_path=log_path, env=environ, cwd=ROOT)

    @property
    def url(self) -> str:
        """Return the base URL of the instance."""
        return f"http://{self.host}:{self.port}"


async def stop_all(
    session: aiohttp.ClientSession | None, *processes: ManagedProcess | None
) -> None:
    """Close the session and stop the processes in order, each politely, then firmly."""
    if session is not None:
        await session.close()
    for process in processes:
        if process is not None:
            await process.stop()


class SignalWaiter:
    """An event set by SIGINT or SIGTERM while the block runs."""

    def __init__(self) -> None:
        """Prepare the event."""
        self.event = asyncio.Event()
        self.received: int | None = None

    def _set(self, signum: int) -> None:
        self.received = signum
        self.event.set()

    async def __aenter__(self) -> Self:
        """Install the handlers."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._set, sig)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Remove the handlers."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
