"""Run farmsim and a real Home Assistant with printfarm, set up through Home Assistant's own APIs.

Nothing here reaches into Home Assistant's internals: it is started as `python -m homeassistant
-c CONFIG` in a subprocess, onboarded through the onboarding HTTP API, and printfarm is added
through the config-flow and subentry-flow REST API, exactly as the frontend would.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self

import aiohttp

LOGGER = logging.getLogger("devtools")

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "printfarm"
SERVICE_AUTOPRINTFARM = "autoprintfarm"
SERVICE_PRINTAGO = "printago"
SUBENTRY_PRINTER = "printer"
# The demo dashboard's address (configuration.yaml: lovelace: dashboards:)
DASHBOARD_URL = "print-farm"

# What `config/` keeps across runs; everything else in it is runtime state (git-ignored).
CONFIG_KEEP = frozenset({"configuration.yaml", "dashboards", ".demo.lock"})
# Links from the config directory to the integration and Assist sentences in the repository.
CONFIG_LINKS = ("custom_components", "custom_sentences")

_PR_SET_PDEATHSIG = 1


class HarnessError(Exception):
    """Raised when the demo cannot be brought up."""


# --------------------------------------------------------------------------------------------
# What to connect to
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PrinterConnection:
    """How to reach one Bambu Lab printer on the LAN (a line of farmsim's connection file)."""

    name: str
    serial: str
    model: str
    host: str
    port: int
    access_code: str
    ca_cert: Path | None
    autoprintfarm_id: str
    printago_id: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Return the printer a connection file describes."""
        return cls(
            name=str(data["name"]),
            serial=str(data["serial"]),
            model=str(data.get("model", "")),
            host=str(data["host"]),
            port=int(data["port"]),
            access_code=str(data["access_code"]),
            ca_cert=Path(data["ca_cert"]) if data.get("ca_cert") else None,
            autoprintfarm_id=str(data.get("autoprintfarm_id", "")),
            printago_id=str(data.get("printago_id", "")),
        )

    def ca_pem(self) -> str:
        """Return the PEM text of the CA that signed the printer's certificate, or ''."""
        return self.ca_cert.read_text(encoding="utf-8") if self.ca_cert else ""


@dataclass(frozen=True, kw_only=True)
class FarmService:
    """One farm service to add to Home Assistant as a printfarm entry."""

    service: str
    url: str
    api_key: str
    store_id: str = ""
    realtime_url: str = ""
    # Bambu LAN connections to add as `printer` subentries (AutoPrintFarm only).
    printers: tuple[PrinterConnection, ...] = ()

    def answers(self) -> dict[str, dict[str, Any]]:
        """Return the answers to the config flow's steps, keyed by step id."""
        form: dict[str, Any] = {"url": self.url, "api_key": self.api_key}
        if self.service == SERVICE_PRINTAGO:
            form["store_id"] = self.store_id
            if self.realtime_url:
                form["realtime_url"] = self.realtime_url
        return {"user": {"next_step_id": self.service}, self.service: form}


@dataclass(frozen=True, kw_only=True)
class FarmConnection:
    """farmsim's connection file: every face of the simulated farm."""

    autoprintfarm_url: str
    autoprintfarm_api_key: str
    printago_url: str
    printago_api_key: str
    printago_store_id: str
    printago_realtime_url: str
    printers: tuple[PrinterConnection, ...]
    admin_url: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Return the connection a parsed connection file describes."""
        apf = data["autoprintfarm"]
        printago = data["printago"]
        return cls(
            autoprintfarm_url=str(apf["base_url"]),
            autoprintfarm_api_key=str(apf["api_key"]),
            printago_url=str(printago["base_url"]),
            printago_api_key=str(printago["api_key"]),
            printago_store_id=str(printago["store_id"]),
            printago_realtime_url=str(printago.get("realtime", {}).get("url", "")),
            printers=tuple(PrinterConnection.from_json(p) for p in data.get("printers", [])),
            admin_url=str(data.get("admin_url", "")),
        )

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a connection file."""
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))

    def services(self) -> list[FarmService]:
        """Return both farm services; the AutoPrintFarm one with every printer's LAN link."""
        return [
            FarmService(
                service=SERVICE_AUTOPRINTFARM,
                url=self.autoprintfarm_url,
                api_key=self.autoprintfarm_api_key,
                printers=self.printers,
            ),
            FarmService(
                service=SERVICE_PRINTAGO,
                url=self.printago_url,
                api_key=self.printago_api_key,
                store_id=self.printago_store_id,
                realtime_url=self.printago_realtime_url,
            ),
        ]


@dataclass(frozen=True, kw_only=True)
class DemoUser:
    """The Home Assistant owner the harness creates during onboarding."""

    name: str = "Demo"
    username: str = "demo"
    password: str = "printfarm-demo"  # noqa: S105 - a documented demo default


@dataclass(frozen=True, kw_only=True)
class Tokens:
    """Tokens of an authenticated Home Assistant session."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - not a secret

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Return the tokens of a /auth/token answer."""
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=str(data.get("refresh_token", "")),
            expires_in=int(data.get("expires_in", 1800)),
            token_type=str(data.get("token_type", "Bearer")),
        )


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


# --------------------------------------------------------------------------------------------
# Subprocesses
# --------------------------------------------------------------------------------------------


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


def prepare_config(config_dir: Path, *, fresh: bool) -> None:
    """Link the integration into a Home Assistant config directory; optionally wipe its state.

    Everything in the directory but `configuration.yaml`, `dashboards/` and the links is
    runtime state that Home Assistant writes (the database, `.storage`, logs).
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    if fresh:
        for path in config_dir.iterdir():
            if path.name in CONFIG_KEEP:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    for name in CONFIG_LINKS:
        link = config_dir / name
        target = Path(os.path.relpath(ROOT / name, config_dir))
        if link.is_symlink() and link.readlink() == target:
            continue
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.is_dir():
            shutil.rmtree(link)
        link.symlink_to(target, target_is_directory=True)


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


# --------------------------------------------------------------------------------------------
# Home Assistant's HTTP and websocket APIs
# --------------------------------------------------------------------------------------------


class FlowError(HarnessError):
    """Raised when a config flow aborts or keeps showing errors."""

    def __init__(self, message: str, result: Mapping[str, Any]) -> None:
        """Keep the flow's last result."""
        super().__init__(message)
        self.result = dict(result)


class WebSocket:
    """An authenticated connection to Home Assistant's websocket API."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap an authenticated websocket."""
        self._ws = ws
        self._id = 0

    async def call(self, message: Mapping[str, Any]) -> Any:
        """Send one command and return its result."""
        self._id += 1
        await self._ws.send_json({**message, "id": self._id})
        while True:
            answer = await self._ws.receive_json(timeout=60)
            if answer.get("id") != self._id or answer.get("type") != "result":
                continue
            if not answer.get("success"):
                msg = f"websocket command {message.get('type')} failed: {answer.get('error')}"
                raise HarnessError(msg)
            return answer.get("result")


class HomeAssistantClient:
    """Home Assistant's REST and websocket APIs, as the frontend uses them."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        """Talk to the instance at `base_url`."""
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.token: str | None = None

    @property
    def client_id(self) -> str:
        """Return the OAuth client id of the frontend served by this instance."""
        return f"{self.base_url}/"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self, method: str, path: str, *, json_body: Any = None, auth: bool = True
    ) -> Any:
        """Send a request; return the JSON answer, raise HarnessError for an error status."""
        headers = self._headers() if auth else {}
        async with self.session.request(
            method, self.base_url + path, json=json_body, headers=headers
        ) as response:
            text = await response.text()
            if response.status >= 400:  # noqa: PLR2004
                msg = f"{method} {path}: HTTP {response.status}: {text[:500]}"
                raise HarnessError(msg)
            return json.loads(text) if text else None

    async def wait_until_up(
        self, within: float = 180.0, process: ManagedProcess | None = None
    ) -> None:
        """Wait until the HTTP server answers (Home Assistant has started)."""
        deadline = time.monotonic() + within
        while True:
            if process is not None and not process.running:
                process.fail("Home Assistant exited while starting")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.session.get(
                    f"{self.base_url}/api/onboarding", timeout=aiohttp.ClientTimeout(total=5)
                ) as response:
                    if response.status == 200:  # noqa: PLR2004
                        return
            if time.monotonic() > deadline:
                msg = f"Home Assistant did not start within {within:g}s"
                if process is not None:
                    process.fail(msg)
                raise HarnessError(msg)
            await asyncio.sleep(0.5)

    async def _token(self, code: str) -> Tokens:
        async with self.session.post(
            f"{self.base_url}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        ) as response:
            if response.status != 200:  # noqa: PLR2004
                msg = f"/auth/token: HTTP {response.status}: {await response.text()}"
                raise HarnessError(msg)
            return Tokens.from_json(await response.json())

    async def onboarding_steps(self) -> dict[str, bool]:
        """Return which onboarding steps are done."""
        steps = await self.request("GET", "/api/onboarding", auth=False)
        return {str(step["step"]): bool(step["done"]) for step in steps}

    async def onboard(self, user: DemoUser, *, language: str = "en") -> Tokens:
        """Complete onboarding: create the owner, then finish every other step.

        Returns the owner's tokens; the client authenticates with them from then on.
        """
        answer = await self.request(
            "POST",
            "/api/onboarding/users",
            json_body={
                "client_id": self.client_id,
                "name": user.name,
                "username": user.username,
                "password": user.password,
                "language": language,
            },
            auth=False,
        )
        tokens = await self._token(answer["auth_code"])
        self.token = tokens.access_token
        steps = await self.onboarding_steps()
        for step in ("core_config", "analytics"):
            if not steps.get(step):
                await self.request("POST", f"/api/onboarding/{step}", json_body={})
        if not steps.get("integration"):
            await self.request(
                "POST",
                "/api/onboarding/integration",
                json_body={
                    "client_id": self.client_id,
                    "redirect_uri": f"{self.base_url}/?auth_callback=1",
                },
            )
        return tokens

    async def login(self, username: str, password: str) -> Tokens:
        """Log in through the login flow, as the frontend's login page does."""
        redirect_uri = f"{self.base_url}/?auth_callback=1"
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            json_body={
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": redirect_uri,
            },
            auth=False,
        )
        result = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            json_body={"client_id": self.client_id, "username": username, "password": password},
            auth=False,
        )
        if result.get("type") != "create_entry":
            msg = f"login failed: {result.get('errors') or result}"
            raise HarnessError(msg)
        tokens = await self._token(str(result["result"]))
        self.token = tokens.access_token
        return tokens

    @contextlib.asynccontextmanager
    async def websocket(self) -> AsyncIterator[WebSocket]:
        """Open an authenticated websocket connection."""
        url = self.base_url.replace("http", "ws", 1) + "/api/websocket"
        async with self.session.ws_connect(url, max_msg_size=0) as ws:
            hello = await ws.receive_json(timeout=30)
            if hello.get("type") != "auth_required":
                msg = f"unexpected websocket greeting: {hello}"
                raise HarnessError(msg)
            await ws.send_json({"type": "auth", "access_token": self.token})
            answer = await ws.receive_json(timeout=30)
            if answer.get("type") != "auth_ok":
                msg = f"websocket authentication failed: {answer}"
                raise HarnessError(msg)
            yield WebSocket(ws)

    async def ws_call(self, message: Mapping[str, Any]) -> Any:
        """Run one websocket command on a connection of its own."""
        async with self.websocket() as ws:
            return await ws.call(message)

    async def long_lived_token(self, client_name: str, lifespan_days: int = 365) -> str:
        """Create a long-lived access token of the logged-in user."""
        token = await self.ws_call(
            {
                "type": "auth/long_lived_access_token",
                "client_name": client_name,
                "lifespan": lifespan_days,
            }
        )
        return str(token)

    async def config(self) -> dict[str, Any]:
        """Return /api/config (includes the core state, RUNNING once started)."""
        config: dict[str, Any] = await self.request("GET", "/api/config")
        return config

    async def states(self) -> list[dict[str, Any]]:
        """Return every entity's state."""
        states: list[dict[str, Any]] = await self.request("GET", "/api/states")
        return states

    async def _drive_flow(
        self,
        base_path: str,
        first: Mapping[str, Any],
        answers: Mapping[str, Mapping[str, Any]],
        what: str,
    ) -> dict[str, Any]:
        """Run a data-entry flow to its end, answering each step from `answers`.

        Form answers are cut to the fields the form asks for, so a flow that grows or loses
        an optional field still completes; a step shown again with errors fails.
        """
        result: dict[str, Any] = await self.request("POST", base_path, json_body=dict(first))
        answered: set[str] = set()
        while result["type"] in ("form", "menu"):
            step = str(result["step_id"])
            if result.get("errors") and step in answered:
                msg = f"{what}: step {step!r} answered with errors {result['errors']}"
                raise FlowError(msg, result)
            if step not in answers:
                msg = f"{what}: no answer for step {step!r} ({result})"
                raise FlowError(msg, result)
            answer = dict(answers[step])
            if result["type"] == "form":
                fields = {str(f["name"]) for f in result.get("data_schema", [])}
                unknown = answer.keys() - fields
                if unknown:
                    LOGGER.debug("%s: step %s does not ask for %s", what, step, sorted(unknown))
                answer = {key: value for key, value in answer.items() if key in fields}
            answered.add(step)
            result = await self.request(
                "POST", f"{base_path}/{result['flow_id']}", json_body=answer
            )
        if result["type"] != "create_entry":
            msg = f"{what}: flow ended with {result['type']} {result.get('reason', '')}".strip()
            raise FlowError(msg, result)
        return result

    async def config_flow(
        self, handler: str, answers: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Add a config entry through the config flow; return the created entry."""
        result = await self._drive_flow(
            "/api/config/config_entries/flow",
            {"handler": handler, "show_advanced_options": False},
            answers,
            f"config flow of {handler}",
        )
        entry: dict[str, Any] = result["result"]
        return entry

    async def subentry_flow(
        self, entry_id: str, subentry_type: str, answers: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Add a subentry to a config entry through its subentry flow."""
        return await self._drive_flow(
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry_id, subentry_type], "show_advanced_options": False},
            answers,
            f"{subentry_type} subentry flow",
        )

    async def config_entries(self, domain: str) -> list[dict[str, Any]]:
        """Return the config entries of a domain."""
        entries: list[dict[str, Any]] = await self.ws_call(
            {"type": "config_entries/get", "domain": domain}
        )
        return entries

    async def wait_entry_loaded(self, entry_id: str, within: float = 60.0) -> dict[str, Any]:
        """Wait until a config entry is loaded; fail early when its setup failed for good."""
        deadline = time.monotonic() + within
        while True:
            entries = await self.request("GET", "/api/config/config_entries/entry")
            entry = next((e for e in entries if e["entry_id"] == entry_id), None)
            if entry is None:
                msg = f"config entry {entry_id} is gone"
                raise HarnessError(msg)
            if entry["state"] == "loaded":
                return dict(entry)
            if entry["state"] in ("setup_error", "migration_error", "failed_unload"):
                msg = f"config entry {entry['title']} failed: {entry.get('reason')}"
                raise HarnessError(msg)
            if time.monotonic() > deadline:
                msg = (
                    f"config entry {entry['title']} not loaded within {within:g}s "
                    f"({entry['state']}: {entry.get('reason')})"
                )
                raise HarnessError(msg)
            await asyncio.sleep(0.25)

    async def registry(self) -> Registry:
        """Return the config entries, devices and entities of printfarm."""
        async with self.websocket() as ws:
            entries = await ws.call({"type": "config_entries/get", "domain": DOMAIN})
            devices = await ws.call({"type": "config/device_registry/list"})
            entities = await ws.call({"type": "config/entity_registry/list"})
        ids = {entry["entry_id"] for entry in entries}
        return Registry(
            entries=list(entries),
            devices=[d for d in devices if ids & set(d.get("config_entries", []))],
            entities=[e for e in entities if e.get("config_entry_id") in ids],
        )

    async def expose_to_assist(self, entity_ids: Sequence[str]) -> None:
        """Expose entities to Assist (the conversation agent)."""
        if entity_ids:
            await self.ws_call(
                {
                    "type": "homeassistant/expose_entity",
                    "assistants": ["conversation"],
                    "entity_ids": list(entity_ids),
                    "should_expose": True,
                }
            )


@dataclass(kw_only=True)
class Registry:
    """printfarm's config entries, devices and entities as Home Assistant lists them."""

    entries: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    entities: list[dict[str, Any]]

    def entity_id(self, device_id: str, translation_key: str) -> str | None:
        """Return the entity of a device with a translation key (the status sensor has none)."""
        for entity in self.entities:
            if entity["device_id"] == device_id and entity.get("translation_key") == (
                translation_key
            ):
                return str(entity["entity_id"])
        return None

    def printer_devices(self, entry_id: str) -> list[dict[str, Any]]:
        """Return an entry's printer devices (those below the farm device), by name."""
        devices = [
            d
            for d in self.devices
            if entry_id in d.get("config_entries", []) and d.get("via_device_id")
        ]
        return sorted(devices, key=lambda d: str(d.get("name_by_user") or d.get("name")))

    def farm_device(self, entry_id: str) -> dict[str, Any] | None:
        """Return an entry's farm (service) device."""
        for device in self.devices:
            if entry_id in device.get("config_entries", []) and not device.get("via_device_id"):
                return device
        return None


# --------------------------------------------------------------------------------------------
# The whole demo
# --------------------------------------------------------------------------------------------


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


async def stop_all(
    session: aiohttp.ClientSession | None, *processes: ManagedProcess | None
) -> None:
    """Close the session and stop the processes in order, each politely, then firmly."""
    if session is not None:
        await session.close()
    for process in processes:
        if process is not None:
            await process.stop()


Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    """Report nothing."""


class ConfigLock:
    """An exclusive lock on a config directory: one demo at a time may use (and wipe) it."""

    def __init__(self, config_dir: Path) -> None:
        """Lock `config_dir` (the lock file sits in it and is runtime state)."""
        self.path = config_dir / ".demo.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise HarnessError when another demo holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            msg = f"another demo uses {self.path.parent} (stop it first)"
            raise HarnessError(msg) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let the lock go."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


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


async def add_printer(
    client: HomeAssistantClient, entry_id: str, printer: PrinterConnection
) -> None:
    """Add a printer's Bambu LAN connection as a subentry, certificate check on."""
    answers: dict[str, dict[str, Any]] = {
        "user": {"printer_id": printer.autoprintfarm_id},
        "connection": {
            "host": printer.host,
            "port": printer.port,
            "serial": printer.serial,
            "access_code": printer.access_code,
            "verify_ssl": True,
            "ca_cert": printer.ca_pem(),
        },
    }
    try:
        await client.subentry_flow(entry_id, SUBENTRY_PRINTER, answers)
    except FlowError as err:
        if err.result.get("reason") != "entry_not_loaded":
            raise
        await client.wait_entry_loaded(entry_id)
        await client.subentry_flow(entry_id, SUBENTRY_PRINTER, answers)


# Entities a printer shows once its pushed state arrived (see the integration's sensor.py).
PUSHED_KEY = "nozzle_temperature"


async def wait_for_entities(client: HomeAssistantClient, within: float) -> Registry:
    """Wait until every printer device has its entities (pushed ones included), or `within`."""
    deadline = time.monotonic() + within
    previous = -1
    while True:
        registry = await client.registry()
        printers = [d for e in registry.entries for d in registry.printer_devices(e["entry_id"])]
        complete = bool(printers) and all(registry.entity_id(d["id"], PUSHED_KEY) for d in printers)
        count = len(registry.entities)
        if (complete and count == previous) or time.monotonic() > deadline:
            if not complete:
                LOGGER.warning("not every printer reported its state within %gs", within)
            return registry
        previous = count
        await asyncio.sleep(1.0)


ASSIST_KEYS = ("status", "progress", "time_remaining", "current_job")


def assist_entities(registry: Registry) -> list[str]:
    """Return the printers' status, progress, time and job sensors and the farm's counters."""
    exposed: list[str] = []
    for entity in registry.entities:
        if entity["entity_id"].split(".")[0] != "sensor" or entity.get("disabled_by"):
            continue
        device = next((d for d in registry.devices if d["id"] == entity["device_id"]), None)
        if device is None:
            continue
        key = entity.get("translation_key")
        if device.get("via_device_id"):
            if key in ASSIST_KEYS:
                exposed.append(entity["entity_id"])
        elif key in ("jobs_queued", "jobs_active", "printers_printing"):
            exposed.append(entity["entity_id"])
    return exposed


DEMO_JOBS = (
    ("bracket", 7200, 30),
    ("gear-housing", 10800, 55),
    ("cable-clip", 3600, 8),
    ("lamp-shade", 14400, 90),
    ("hinge", 5400, 14),
    ("phone-stand", 9000, 45),
)
DEMO_FILES = "https://files.printfarm.invalid/models"


class FarmOperator:
    """Keeps a demo farm busy as its staff would, through printfarm's own entities and actions.

    A finished print waits on its printer until the bed is cleared; the operator presses the
    printer's "Mark bed clear" button a while after a print finished, and submits a new job
    (`printfarm.submit_job`) whenever the queue runs short, so the farm keeps printing.
    """

    def __init__(
        self,
        client: HomeAssistantClient,
        registry: Registry,
        entry_id: str,
        *,
        interval: float = 5.0,
        clear_after: float = 20.0,
        min_queue: int = 3,
        submit_every: float = 10.0,
    ) -> None:
        """Operate the farm of one config entry."""
        self.client = client
        self.entry_id = entry_id
        self.interval = interval
        self.clear_after = clear_after
        self.min_queue = min_queue
        self.submit_every = submit_every
        farm = registry.farm_device(entry_id)
        self.queued = registry.entity_id(str(farm["id"]), "jobs_queued") if farm else None
        self.beds = [
            (awaiting, button)
            for device in registry.printer_devices(entry_id)
            if (awaiting := registry.entity_id(str(device["id"]), "awaiting_bed_clear"))
            and (button := registry.entity_id(str(device["id"]), "clear_bed"))
        ]
        self._finished_since: dict[str, float] = {}
        self._last_submit = -submit_every
        self._jobs = 0
        self.presses = 0
        self.submitted = 0

    async def run(self) -> None:
        """Operate until cancelled; a failed round is logged and the next one tried."""
        while True:
            try:
                await self.step()
            except (HarnessError, aiohttp.ClientError, TimeoutError) as err:
                LOGGER.debug("farm operator: %s", err)
            await asyncio.sleep(self.interval)

    async def step(self) -> None:
        """Clear the beds that waited long enough; top the queue up."""
        states = {s["entity_id"]: s["state"] for s in await self.client.states()}
        now = time.monotonic()
        for awaiting, button in self.beds:
            if states.get(awaiting) != "on":
                self._finished_since.pop(awaiting, None)
                continue
            since = self._finished_since.setdefault(awaiting, now)
            if now - since >= self.clear_after and states.get(button) != "unavailable":
                await self.client.request(
                    "POST", "/api/services/button/press", json_body={"entity_id": button}
                )
                self._finished_since.pop(awaiting, None)
                self.presses += 1
        try:
            queued = int(float(states.get(self.queued or "", "")))
        except ValueError:
            return
        if queued < self.min_queue and now - self._last_submit >= self.submit_every:
            name, seconds, grams = DEMO_JOBS[self._jobs % len(DEMO_JOBS)]
            self._jobs += 1
            await self.client.request(
                "POST",
                f"/api/services/{DOMAIN}/submit_job",
                json_body={
                    "config_entry_id": self.entry_id,
                    "file_url": f"{DEMO_FILES}/{name}.gcode.3mf"
                    f"?sim_seconds={seconds}&sim_grams={grams}",
                    "name": name,
                },
            )
            self._last_submit = now
            self.submitted += 1


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
