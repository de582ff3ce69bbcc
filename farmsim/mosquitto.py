"""Run a real Mosquitto broker for one simulated printer."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import getpass
import hashlib
import logging
import os
import random
import secrets
import shutil
import signal
import socket
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, Self

if TYPE_CHECKING:
    from types import TracebackType

    from .certs import CertificateAuthority

LOGGER = logging.getLogger(__name__)

BAMBU_USERNAME: Final = "bblp"
INTERNAL_USERNAME: Final = "farmsim"
PBKDF2_ITERATIONS: Final = 101
START_TIMEOUT: Final = 10.0
STOP_TIMEOUT: Final = 5.0
PORT_ATTEMPTS: Final = 3
_POLL: Final = 0.02


class MosquittoError(Exception):
    """Mosquitto could not be started or controlled."""


_HANDED_OUT: set[int] = set()
_EPHEMERAL_RANGE: Final = Path("/proc/sys/net/ipv4/ip_local_port_range")
_PORT_FLOOR: Final = 10000
_RANDOM = random.SystemRandom()


def _ephemeral_range() -> tuple[int, int]:
    """Return the ports the kernel hands out for port 0 and outgoing connections."""
    try:
        low, high = (int(part) for part in _EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def _bindable(host: str, port: int) -> bool:
    """Return whether a port can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Return distinct free TCP ports below the ephemeral range (Mosquitto cannot take 0).

    Ports outside the kernel's ephemeral range cannot be taken meanwhile by outgoing
    connections or by servers bound to port 0.
    """
    low, _ = _ephemeral_range()
    ports: list[int] = []
    if low - _PORT_FLOOR > 1000:  # noqa: PLR2004
        for _ in range(1000):
            port = _RANDOM.randrange(_PORT_FLOOR, low)
            if port not in _HANDED_OUT and port not in ports and _bindable(host, port):
                ports.append(port)
                if len(ports) == count:
                    break
    with contextlib.ExitStack() as stack:
        while len(ports) < count:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            port = sock.getsockname()[1]
            if port not in _HANDED_OUT and port not in ports:
                ports.append(port)
    _HANDED_OUT.update(ports)
    return ports


def password_hash(password: str, *, salt: bytes | None = None) -> str:
    """Return a password hash in Mosquitto 2's PBKDF2-SHA512 format ($7$)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    encoded_salt = base64.b64encode(salt).decode()
    encoded_hash = base64.b64encode(digest).decode()
    return f"$7${PBKDF2_ITERATIONS}${encoded_salt}${encoded_hash}"


class MosquittoBroker:
    """A Mosquitto process serving one printer: TLS for clients, a plain port for farmsim."""

    def __init__(
        self,
        *,
        directory: Path,
        ca: CertificateAuthority,
        serial: str,
        access_code: str,
        host: str = "127.0.0.1",
    ) -> None:
        """Initialize the broker; files go to `directory`, nothing runs until start()."""
        self.directory = directory.resolve()
        self.serial = serial
        self.host = host
        self.internal_username = INTERNAL_USERNAME
        self.internal_password = secrets.token_hex(16)
        self._ca = ca
        self._access_code: str | None = access_code
        self._tls_port = 0
        self._internal_port = 0
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

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

    @property
    def tls_port(self) -> int:
        """Return the port of the TLS listener for clients (0 before the first start)."""
        return self._tls_port

    @property
    def internal_port(self) -> int:
        """Return the port of the plain loopback listener for the simulator."""
        return self._internal_port

    @property
    def ports(self) -> tuple[int, int]:
        """Return the TLS port and the internal port."""
        return self._tls_port, self._internal_port

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
    def password_path(self) -> Path:
        """Return the path of the password file."""
        return self.directory / "passwd"

    @property
    def acl_path(self) -> Path:
        """Return the path of the topic ACL file."""
        return self.directory / "acl"

    @property
    def log_path(self) -> Path:
        """Return the path of Mosquitto's log."""
        return self.directory / "mosquitto.log"

    async def start(self) -> None:
        """Start Mosquitto (on the same ports as before, if it ran) and wait until it listens."""
        if self.running:
            return
        if (binary := self.executable()) is None:
            msg = "mosquitto is not installed"
            raise MosquittoError(msg)
        self.directory.mkdir(parents=True, exist_ok=True)
        fresh = not self._tls_port
        attempts = PORT_ATTEMPTS if fresh else 1
        for attempt in range(1, attempts + 1):
            if fresh:
                self._tls_port, self._internal_port = free_ports(2, self.host)
            try:
                await self._launch(binary)
            except MosquittoError as err:
                if attempt == attempts or "Address already in use" not in str(err):
                    raise
                LOGGER.debug("Ports %s of %s were taken, trying others", self.ports, self.serial)
            else:
                return

    async def _launch(self, binary: str) -> None:
        """Write the files, run Mosquitto and wait until it listens."""
        await self._write_passwords()
        self._write_acl()
        self._write_config()
        self._log = self.log_path.open("ab")
        self._process = await asyncio.create_subprocess_exec(
            binary,
            "-c",
            str(self.config_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,
        )
        try:
            await self._wait_listening()
        except BaseException:
            await self.stop()
            raise
        LOGGER.debug("Mosquitto for %s listens on %s", self.serial, self.ports)

    async def stop(self) -> None:
        """Stop Mosquitto: terminate its process group and reap the process."""
        process, self._process = self._process, None
        if process is not None:
            if process.returncode is None:
                self._signal_group(process.pid, signal.SIGTERM)
                try:
                    async with asyncio.timeout(STOP_TIMEOUT):
                        await process.wait()
                except TimeoutError:
                    self._signal_group(process.pid, signal.SIGKILL)
                    await process.wait()
            else:
                await process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def restart(self) -> None:
        """Stop and start again on the same ports."""
        await self.stop()
        await self.start()

    async def set_access_code(self, access_code: str | None) -> None:
        """Change the password of `bblp` (None refuses every client) and reload."""
        self._access_code = access_code
        await self._write_passwords()
        if self._process is not None and self.running:
            self._process.send_signal(signal.SIGHUP)

    def log_tail(self, lines: int = 20) -> str:
        """Return the last lines of Mosquitto's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def _wait_listening(self) -> None:
        """Wait until both listeners accept TCP connections."""
        try:
            async with asyncio.timeout(START_TIMEOUT):
                for port in self.ports:
                    while not await self._accepts(port):
                        if not self.running:
                            msg = f"mosquitto exited at start:\n{self.log_tail()}"
                            raise MosquittoError(msg)
                        await asyncio.sleep(_POLL)
        except TimeoutError as err:
            msg = f"mosquitto did not listen on {self.ports}:\n{self.log_tail()}"
            raise MosquittoError(msg) from err

    async def _accepts(self, port: int) -> bool:
        """Return whether a TCP connection to the port succeeds."""
        try:
            _, writer = await asyncio.open_connection(self.host, port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def _write_passwords(self) -> None:
        """Write the password file, hashed by mosquitto_passwd when it is installed."""
        users = {self.internal_username: self.internal_password}
        if self._access_code is not None:
            users[BAMBU_USERNAME] = self._access_code
        path = self.password_path
        path.unlink(missing_ok=True)
        if tool := shutil.which("mosquitto_passwd"):
            for index, (user, password) in enumerate(users.items()):
                create = ("-c",) if index == 0 else ()
                await self._run(tool, *create, "-b", str(path), user, password)
        else:
            path.write_text("".join(f"{u}:{password_hash(p)}\n" for u, p in users.items()))
        path.chmod(0o600)

    async def _run(self, *args: str) -> None:
        """Run a helper program and raise if it fails."""
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            msg = f"{args[0]} failed: {output.decode(errors='replace').strip()}"
            raise MosquittoError(msg)

    def _write_acl(self) -> None:
        """Let clients read reports and write requests of this printer only."""
        base = f"device/{self.serial}"
        self.acl_path.write_text(
            f"user {BAMBU_USERNAME}\n"
            f"topic read {base}/report\n"
            f"topic write {base}/request\n\n"
            f"user {self.internal_username}\n"
            f"topic readwrite {base}/#\n"
        )
        self.acl_path.chmod(0o600)

    def _write_config(self) -> None:
        """Write mosquitto.conf for the two listeners."""
        cert_path, key_path = self._ca.issue(self.serial)
        lines = [
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {self.password_path}",
            f"acl_file {self.acl_path}",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp true",
            f"listener {self._tls_port} {self.host}",
            f"cafile {self._ca.cert_path}",
            f"certfile {cert_path}",
            f"keyfile {key_path}",
            "require_certificate false",
            f"listener {self._internal_port} {self.host}",
        ]
        if os.geteuid() == 0:
            lines.insert(0, f"user {getpass.getuser()}")
        self.config_path.write_text("\n".join(lines) + "\n")

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        """Send a signal to a process group, ignoring one that is already gone."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
