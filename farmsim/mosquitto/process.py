"""One Mosquitto process with all the listeners it serves, run and watched by farmsim."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import time
from collections import deque
from typing import IO, TYPE_CHECKING, Final, Self

from . import log
from .config import Listener, render
from .ports import free_ports
from .sessions import format_peer as format_address
from .waiting import wait_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path
    from types import TracebackType

LOGGER = logging.getLogger(__name__)

START_TIMEOUT: Final = 10.0
STOP_TIMEOUT: Final = 5.0
# How long Mosquitto is given to act on a signal before it is sent again
SIGNAL_INTERVAL: Final = 0.2
RELOAD_TIMEOUT: Final = 5.0
# How long a reload is given when there is no plain listener to tell when it is done
BARRIER_FALLBACK: Final = 0.5
PORT_ATTEMPTS: Final = 3
TAIL_LINES: Final = 200

type AcceptedCallback = Callable[[log.Accepted], None]


class MosquittoError(Exception):
    """Mosquitto could not be started or controlled."""


class MosquittoBroker:
    """A Mosquitto process serving a set of listeners, each with its own users and topics.

    farmsim reads Mosquitto's log as it is written: it tells when the broker runs, when a
    reload began, and which client Mosquitto accepted from which address (`watch`).
    Mosquitto stays in farmsim's process group, so that whatever ends the group (Ctrl-C,
    a harness killing it) ends Mosquitto too.
    """

    def __init__(
        self, *, directory: Path, listeners: Iterable[Listener], options: Iterable[str] = ()
    ) -> None:
        """Initialize the broker; files go to `directory`, nothing runs until start()."""
        self.directory = directory.resolve()
        self.listeners = {listener.name: listener for listener in listeners}
        self.options = list(options)
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._log: IO[bytes] | None = None
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._started = asyncio.Event()
        self._reloaded = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._next_reload: asyncio.Future[None] | None = None
        self._arrivals: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchers: dict[str, AcceptedCallback] = {}
        self._refusals = 0
        self._unclaimed = 0
        self._claims: deque[Callable[[], None]] = deque()

    @classmethod
    def executable(cls) -> str | None:
        """Return the path of the mosquitto binary, if installed."""
        return shutil.which("mosquitto") or next(
            (
                path
                for path in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
                if os.access(path, os.X_OK)
            ),
            None,
        )

    @classmethod
    def available(cls) -> bool:
        """Return whether Mosquitto is installed."""
        return cls.executable() is not None

    async def __aenter__(self) -> Self:
        """Start the broker."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the broker."""
        await self.stop()

    def port(self, name: str) -> int:
        """Return the port of a listener (0 before the first start)."""
        return self.listeners[name].port

    @property
    def running(self) -> bool:
        """Return whether the Mosquitto process is alive."""
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        """Return the process id while running."""
        return self._process.pid if self.running and self._process else None

    @property
    def config_path(self) -> Path:
        """Return the path of the generated configuration file."""
        return self.directory / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        """Return the path of Mosquitto's log."""
        return self.directory / "mosquitto.log"

    @property
    def refusals(self) -> int:
        """Return how many clients Mosquitto refused at CONNECT since it was created."""
        return self._refusals

    def log_tail(self, lines: int = 20) -> str:
        """Return the last lines Mosquitto logged."""
        return "\n".join(list(self._tail)[-lines:])

    def watch(self, address: str, callback: AcceptedCallback) -> Callable[[], None]:
        """Call `callback` when Mosquitto accepts the client from `address`; return an unwatch."""
        self._watchers[address] = callback

        def unwatch() -> None:
            if self._watchers.get(address) is callback:
                del self._watchers[address]

        return unwatch

    def claim_refusal(self, on_refused: Callable[[], None]) -> Callable[[], None] | None:
        """Call `on_refused` for a refusal logged but not claimed yet, or for the next one.

        Returns None when it was called at once, else a function that withdraws the claim.
        Claims get the refusals in the order they were made.
        """
        if self._unclaimed > 0:
            self._unclaimed -= 1
            on_refused()
            return None
        self._claims.append(on_refused)

        def withdraw() -> None:
            with contextlib.suppress(ValueError):
                self._claims.remove(on_refused)

        return withdraw

    async def start(self) -> None:
        """Start Mosquitto (on the same ports as before, if it ran) and wait until it runs."""
        if self.running:
            return
        if self._process is not None:
            # It died: reap it and close its log first
            await self.stop()
        if (binary := self.executable()) is None:
            msg = "mosquitto is not installed"
            raise MosquittoError(msg)
        self.directory.mkdir(parents=True, exist_ok=True)
        unbound = [listener for listener in self.listeners.values() if not listener.port]
        attempts = PORT_ATTEMPTS if unbound else 1
        for attempt in range(1, attempts + 1):
            for listener, port in zip(unbound, free_ports(len(unbound)), strict=True):
                listener.port = port
            try:
                await self._launch(binary)
            except MosquittoError as err:
                if attempt == attempts or "Address already in use" not in str(err):
                    raise
                LOGGER.debug("Ports of %s were taken, trying others", self.directory)
            else:
                return

    async def stop(self) -> None:
        """Stop Mosquitto: terminate its process group and reap the process."""
        if tasks := list(self._tasks):
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        process, self._process = self._process, None
        if process is not None:
            await self._terminate(process)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._log is not None:
            self._log.close()
            self._log = None

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        """End a Mosquitto process: SIGTERM (woken to take it), then SIGKILL."""
        exited = asyncio.Event()
        waiter = asyncio.get_running_loop().create_task(process.wait())
        waiter.add_done_callback(lambda _task: exited.set())
        deadline = time.monotonic() + STOP_TIMEOUT
        while not exited.is_set() and time.monotonic() < deadline:
            _signal(process, signal.SIGTERM)
            await self._wake()
            await wait_event(exited, SIGNAL_INTERVAL)
        if not exited.is_set():
            _signal(process, signal.SIGKILL)
        await waiter

    async def restart(self) -> None:
        """Stop and start again on the same ports; every connection is cut."""
        await self.stop()
        await self.start()

    async def set_users(self, name: str, users: dict[str, str]) -> None:
        """Replace the users of a listener and reload; clients they no longer admit are cut."""
        listener = self.listeners[name]
        listener.users = dict(users)
        if self.directory.exists():
            listener.write_passwords(self.directory)
        await self.reload()

    async def reload(self) -> None:
        """Make a running Mosquitto read its files again; return once it has.

        Requests made before the signal goes out share it. Mosquitto loses a SIGHUP that
        arrives while it reloads, so the next signal waits until the last reload is done.
        """
        if not self.running:
            return
        if (pending := self._next_reload) is None:
            pending = self._next_reload = asyncio.get_running_loop().create_future()
            task = asyncio.get_running_loop().create_task(self._reload(pending))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.shield(pending)

    async def _reload(self, done: asyncio.Future[None]) -> None:
        """Send one SIGHUP for every request made so far and settle them."""
        async with self._reload_lock:
            self._next_reload = None
            try:
                await self._signal_reload()
            except asyncio.CancelledError:
                done.cancel()
                raise
            except Exception as err:  # noqa: BLE001 - handed to whoever waits for it
                done.set_exception(err)
                # Retrieved here, so that nobody waiting is no error
                done.exception()
            else:
                done.set_result(None)

    async def _signal_reload(self) -> None:
        """Send SIGHUP and wait until Mosquitto began, and then finished, reloading."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        self._reloaded.clear()
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while not self._reloaded.is_set():
            if time.monotonic() > deadline:
                msg = f"mosquitto did not reload:\n{self.log_tail()}"
                raise MosquittoError(msg)
            process.send_signal(signal.SIGHUP)
            await self._wake()
            await wait_event(self._reloaded, SIGNAL_INTERVAL)
        if not await self._barrier(deadline - time.monotonic()):
            msg = f"mosquitto did not finish reloading:\n{self.log_tail()}"
            raise MosquittoError(msg)

    async def _wake(self) -> None:
        """Open and close a connection, so that Mosquitto takes the signals it blocks.

        Mosquitto blocks its signals while it waits for its sockets, as long as its next
        timer allows (seconds, with clients connected): new connections end that wait.
        """
        listener = next((lst for lst in self.listeners.values() if not lst.websockets), None)
        if listener is None or not listener.port:
            return
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection(listener.host, listener.port)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _barrier(self, seconds: float) -> bool:
        """Wait until Mosquitto takes a new connection: its loop is past what came before."""
        plain = self._plain()
        if plain is None:
            await asyncio.sleep(BARRIER_FALLBACK)
            return True
        arrived = asyncio.Event()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setblocking(False)  # noqa: FBT003
            sock.bind((plain.host, 0))
            # Known before connecting, so that the log line cannot come first
            address = format_address(sock.getsockname())
            self._arrivals[address] = arrived
            try:
                await asyncio.get_running_loop().sock_connect(sock, (plain.host, plain.port))
                return await wait_event(arrived, seconds)
            finally:
                self._arrivals.pop(address, None)

    def _plain(self) -> Listener | None:
        """Return a listener without TLS or WebSockets, if there is one."""
        return next(
            (
                listener
                for listener in self.listeners.values()
                if not listener.websockets and listener.certfile is None
            ),
            None,
        )

    async def _launch(self, binary: str) -> None:
        """Write the files, run Mosquitto and wait until it runs."""
        for listener in self.listeners.values():
            listener.write_passwords(self.directory)
            listener.write_acl(self.directory)
        config = render(list(self.listeners.values()), self.directory, self.options)
        self.config_path.write_text(config)
        self._log = self.log_path.open("ab")
        self._started.clear()
        self._process = await asyncio.create_subprocess_exec(
            binary,
            "-c",
            str(self.config_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.get_running_loop().create_task(
            self._read_log(self._process), name=f"mosquitto-log-{self._process.pid}"
        )
        try:
            await self._wait_running(self._process)
        except BaseException:
            await self.stop()
            raise
        LOGGER.debug("Mosquitto in %s runs, pid %s", self.directory, self._process.pid)

    async def _wait_running(self, process: asyncio.subprocess.Process) -> None:
        """Wait until Mosquitto logs that it runs, or fail with its log."""
        deadline = time.monotonic() + START_TIMEOUT
        while not self._started.is_set() and process.returncode is None:
            if time.monotonic() > deadline:
                msg = f"mosquitto did not start in time:\n{self.log_tail()}"
                raise MosquittoError(msg)
            await wait_event(self._started, SIGNAL_INTERVAL)
        if process.returncode is None:
            return
        if self._reader is not None:
            # The rest of the log tells why
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        msg = f"mosquitto exited at start:\n{self.log_tail()}"
        raise MosquittoError(msg)

    async def _read_log(self, process: asyncio.subprocess.Process) -> None:
        """Keep Mosquitto's log in a file and follow what it tells."""
        stream = process.stderr
        if stream is None:
            return
        async for raw in stream:
            if self._log is not None:
                self._log.write(raw)
                self._log.flush()
            line = raw.decode(errors="replace")
            self._tail.append(log.message(line))
            self._follow(log.parse(line))
        if process is self._process:
            LOGGER.warning("Mosquitto in %s exited:\n%s", self.directory, self.log_tail())

    def _follow(self, event: log.LogEvent | None) -> None:
        """Act on one log event."""
        match event:
            case log.Accepted(address=address):
                if (callback := self._watchers.get(address)) is not None:
                    callback(event)
            case log.Connection(address=address):
                if (arrived := self._arrivals.get(address)) is not None:
                    arrived.set()
            case log.Refused():
                self._refusals += 1
                if self._claims:
                    self._claims.popleft()()
                else:
                    self._unclaimed += 1
            case log.Reloading():
                self._reloaded.set()
            case log.Running():
                self._started.set()
            case None:
                pass


def _signal(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """Send a signal to a process, ignoring one that is already gone."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
