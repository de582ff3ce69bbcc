"""Schemathesis against farmsim's AutoPrintFarm API: the OpenAPI document and the server agree.

Every operation of the document gets its own freshly populated farm, served on loopback from a
thread (schemathesis sends its requests synchronously, with `requests`). Schemathesis runs its
examples, coverage and fuzzing phases with every one of its default checks; path parameters
name the farm's own objects most of the time, so operations get past 404.

Its stateful phase is left to its command line runner (`schemathesis run`), which chains
operations through links it infers: there a generated Idempotency-Key comes back in later
steps with other bodies, which the API rightly answers with 422 (and a replayed creation
names an object a later step may have deleted), so it cannot pass as a plain check.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, Self

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings

from farmsim.autoprintfarm import create_app
from farmsim.autoprintfarm.delivery import Subscription, WebhookHub
from farmsim.autoprintfarm.openapi import build_openapi
from farmsim.autoprintfarm.state import HUB, IDEMPOTENCY
from farmsim.context import SimConfig

from .helpers import HOST, START, sim_context

if TYPE_CHECKING:
    from collections.abc import Iterator

CONFIG = SimConfig(seed=5, autoprintfarm_rate_limit=10**9, webhook_retry_delays=())
# Examples per operation in the fuzzing phase; the coverage phase adds its own cases.
MAX_EXAMPLES = 30
# How often a path parameter names an object of the farm rather than a generated string
KNOWN_ID_PROBABILITY = 0.8


def build_farm() -> web.Application:
    """Return the app of a populated farm with a printing job, a queued one and a webhook.

    The world is seeded, so every farm built here has the same IDs.
    """
    ctx = sim_context(CONFIG, printers=3, start=START)
    world = ctx.world
    printer_id = next(iter(world.printers))
    world.start_file(printer_id, file_url="https://files.example.com/a.gcode?sim_seconds=90000")
    world.submit_job(source="autoprintfarm", file_url="https://files.example.com/b.gcode")
    app = create_app(ctx)
    webhook = Subscription(
        id=world.new_id("whk_"),
        url="https://hooks.example.com/farm",
        events=["*"],
        secret="whsec_0123456789abcdef",
        description=None,
        created_at=world.clock.now(),
    )
    app[HUB].add(webhook)
    return app


def known_ids(app: web.Application) -> dict[str, list[str]]:
    """Return the IDs of a farm's objects by path parameter."""
    world = app[HUB].ctx.world
    return {
        "printer_id": list(world.printers),
        "job_id": list(world.jobs),
        "material_id": list(world.spools),
        "profile_id": list(world.profiles),
        "webhook_id": list(app[HUB].subscriptions),
    }


IDS = known_ids(build_farm())
SCHEMATHESIS = schemathesis.Config.from_dict(
    {
        "seed": 20250615,
        # Derandomized, and no example database or cache: every run sends the same requests
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "cache": {"enabled": False},
        "auth": {"openapi": {"bearerAuth": {"bearer": CONFIG.autoprintfarm_api_key}}},
        "dictionaries": {name: {"values": ids} for name, ids in IDS.items()},
        "parameters": {
            f"path.{name}": {"dictionary": name, "probability": KNOWN_ID_PROBABILITY}
            for name in IDS
        },
    }
)
schema = schemathesis.openapi.from_dict(build_openapi(), config=SCHEMATHESIS)


class ThreadedFarm:
    """A farm's AutoPrintFarm API served on loopback from a thread of its own."""

    def __init__(self) -> None:
        """Initialize; the farm starts when the block is entered."""
        self.app = build_farm()
        assert known_ids(self.app) == IDS
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.url = ""
        # One keep-alive connection for every request, rather than one each
        self.session = requests.Session()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, HOST, 0)
        await site.start()
        _, port = self.runner.addresses[0]
        self.url = f"http://{HOST}:{port}"

    def __enter__(self) -> Self:
        """Start serving."""
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        """Stop serving."""
        self.session.close()
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def _delivered(*_: Any) -> bool:
    """Stand in for a webhook delivery: generated URLs name hosts that must not be contacted."""
    return True


@pytest.fixture
def farm(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedFarm]:
    monkeypatch.setattr(WebhookHub, "_attempt", _delivered)
    with ThreadedFarm() as farm:
        yield farm


@schema.parametrize()
# The farm is shared by the examples of one operation on purpose; examples never time out
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_document_and_server_agree(case: schemathesis.Case, farm: ThreadedFarm) -> None:
    # Generated Idempotency-Keys repeat (hypothesis likes "0"); a key reused with another
    # body is rightly answered 422, which the checks would take for a refused valid request.
    # The server is idle between requests, so clearing its store from here is safe.
    farm.app[IDEMPOTENCY].clear()
    case.call_and_validate(base_url=farm.url + "/v1", session=farm.session)
