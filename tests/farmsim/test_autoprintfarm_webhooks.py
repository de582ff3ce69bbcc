"""Tests for farmsim's AutoPrintFarm webhooks: subscriptions and signed, retried deliveries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from farmsim.autoprintfarm.state import HUB
from farmsim.context import SimConfig

from . import helpers
from .helpers import START, serve_autoprintfarm, sim_context, wait_until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

SECRET = "whsec_OMGSPIDERS_0123456789"
FAST = SimConfig(seed=5, webhook_retry_delays=(0.05, 0.1), webhook_timeout=0.3)


@dataclass
class Delivery:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def payload(self) -> Any:
        """Return the parsed JSON body."""
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local webhook target answering scripted statuses."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[Delivery] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        """Record the delivery and answer the next scripted status."""
        self.received.append(
            Delivery(dict(request.headers), await request.read(), time.monotonic())
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def wait_for(self, count: int) -> list[Delivery]:
        """Wait until at least `count` deliveries arrived."""
        await wait_until(lambda: len(self.received) >= count)
        return self.received

    def of_type(self, event_type: str) -> list[Delivery]:
        """Return the deliveries of one event type."""
        return [d for d in self.received if d.payload["type"] == event_type]


class Farm(helpers.Farm):
    """A running API with a client session, and webhooks to subscribe to."""

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:  # type: ignore[override]
        """Send a request with the main key; return status and JSON body."""
        status, body, _ = await super().call(method, path, **kwargs)
        return status, body

    async def subscribe(self, url: str, events: list[str]) -> str:
        """Create a webhook; return its id."""
        status, body = await self.call(
            "POST", "/v1/webhooks", json={"url": url, "events": events, "secret": SECRET}
        )
        assert status == 201, body
        return str(body["data"]["id"])


@pytest.fixture
def config() -> SimConfig:
    return FAST


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    target = Receiver()
    app = web.Application()
    app.router.add_post("/hook", target.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    target.url = str(server.make_url("/hook"))
    yield target
    await server.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def farm(config: SimConfig) -> AsyncIterator[Farm]:
    async with serve_autoprintfarm(sim_context(config, printers=3, start=START), Farm) as farm:
        yield farm


def job_url(name: str, seconds: int = 600) -> str:
    return f"https://files.example.com/{name}.gcode?sim_seconds={seconds}&sim_grams=15"


async def test_webhook_crud_and_validation(farm: Farm, receiver: Receiver) -> None:
    status, body = await farm.call(
        "POST",
        "/v1/webhooks",
        json={
            "url": receiver.url,
            "events": ["job.completed", "printer.offline", "job.completed"],
            "secret": SECRET,
            "description": "ops",
        },
    )
    assert status == 201
    hook = body["data"]
    assert hook["id"].startswith("whk_")
    assert hook["events"] == ["job.completed", "printer.offline"]
    assert hook["secret_last4"] == SECRET[-4:]
    assert SECRET not in json.dumps(body)
    assert hook["last_delivery"] is None
    _, body = await farm.call("GET", "/v1/webhooks")
    assert [h["id"] for h in body["data"]] == [hook["id"]]
    _, body = await farm.call("GET", f"/v1/webhooks/{hook['id']}")
    assert body["data"] == hook
    for bad, name in (
        ({"events": ["job.completed"], "secret": SECRET}, "url"),
        ({"url": "mailto:x@example.com", "events": ["*"], "secret": SECRET}, "url"),
        ({"url": receiver.url, "secret": SECRET}, "events"),
        ({"url": receiver.url, "events": [], "secret": SECRET}, "events"),
        ({"url": receiver.url, "events": "job.completed", "secret": SECRET}, "events"),
        ({"url": receiver.url, "events": ["job.exploded"], "secret": SECRET}, "events"),
        ({"url": receiver.url, "events": ["*"]}, "secret"),
        ({"url": receiver.url, "events": ["*"], "secret": "short"}, "secret"),
        ({"url": receiver.url, "events": ["*"], "secret": SECRET, "active": True}, "active"),
    ):
        status, body = await farm.call("POST", "/v1/webhooks", json=bad)
        assert status == 400, bad
        assert body["error"]["details"].startswith(f"{name}:")
    status, body = await farm.call("DELETE", f"/v1/webhooks/{hook['id']}")
    assert body["data"] == {"id": hook["id"], "deleted": True}
    for method in ("GET", "DELETE"):
        status, body = await farm.call(method, f"/v1/webhooks/{hook['id']}")
        assert status == 404
        assert body["error"]["code"] == "invalid_webhook"


async def test_signed_delivery(farm: Farm, receiver: Receiver) -> None:
    hook_id = await farm.subscribe(receiver.url, ["job.created"])
    _, body = await farm.call(
        "POST", "/v1/jobs", json={"file_url": job_url("clip"), "group": "nowhere"}
    )
    job_id = body["data"]["id"]
    (delivery,) = await receiver.wait_for(1)
    headers = delivery.headers
    expected = hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert headers["X-Webhook-Signature"] == f"sha256={expected}"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "AutoPrintFarm-Webhook/1.0"
    assert headers["X-Webhook-Event"] == "job.created"
    assert abs(int(headers["X-Webhook-Timestamp"]) - time.time()) < 5
    payload = delivery.payload
    assert payload["id"] == headers["X-Webhook-Id"]
    assert payload["id"].startswith("evt_")
    assert payload["type"] == "job.created"
    assert payload["created_at"].endswith("Z")
    assert payload["data"]["job"]["id"] == job_id
    assert payload["data"]["job"]["status"] == "queued"
    assert payload["data"]["printer"] is None
    assert payload["data"]["material"] is None
    await asyncio.sleep(0.05)
    assert len(receiver.received) == 1
    assert farm.ctx.counters.webhooks["attempts"] == 1
    assert farm.ctx.counters.webhooks["delivered"] == 1
    _, body = await farm.call("GET", f"/v1/webhooks/{hook_id}/deliveries")
    (attempt,) = body["data"]
    assert attempt["event_id"] == payload["id"]
    assert (attempt["success"], attempt["status_code"], attempt["attempt"]) == (True, 200, 1)
    _, body = await farm.call("GET", f"/v1/webhooks/{hook_id}")
    assert body["data"]["last_delivery"] == attempt


async def test_retries_with_backoff(farm: Farm, receiver: Receiver) -> None:
    receiver.statuses = [500, 500]
    hook_id = await farm.subscribe(receiver.url, ["job.created"])
    await farm.call("POST", "/v1/jobs", json={"file_url": job_url("retry"), "group": "nowhere"})
    first, second, third = await receiver.wait_for(3)
    assert first.headers["X-Webhook-Id"] == second.headers["X-Webhook-Id"]
    assert second.headers["X-Webhook-Id"] == third.headers["X-Webhook-Id"]
    assert first.body == third.body
    assert second.at - first.at >= 0.05
    assert third.at - second.at >= 0.1
    await asyncio.sleep(0.05)
    counters = farm.ctx.counters.webhooks
    assert (counters["attempts"], counters["retried"], counters["delivered"]) == (3, 2, 1)
    assert counters["failed"] == 0
    _, body = await farm.call("GET", f"/v1/webhooks/{hook_id}/deliveries")
    assert [(d["attempt"], d["success"], d["error"]) for d in body["data"]] == [
        (3, True, None),
        (2, False, "HTTP 500"),
        (1, False, "HTTP 500"),
    ]


async def test_gives_up_after_the_last_retry(farm: Farm, receiver: Receiver) -> None:
    receiver.statuses = [503] * 10
    await farm.subscribe(receiver.url, ["*"])
    farm.world.set_online(next(iter(farm.world.printers)), online=False)
    await receiver.wait_for(3)
    await wait_until(lambda: farm.ctx.counters.webhooks["failed"] >= 1)
    await asyncio.sleep(0.2)
    assert len(receiver.received) == 3
    assert farm.ctx.counters.webhooks["delivered"] == 0


@pytest.mark.parametrize(
    "config", [SimConfig(seed=5, webhook_retry_delays=(0.01,), webhook_timeout=0.2)]
)
async def test_timeouts_and_connection_errors(farm: Farm, receiver: Receiver) -> None:
    receiver.delay = 1.0
    slow = await farm.subscribe(receiver.url, ["printer.offline"])
    dead = await farm.subscribe(f"http://127.0.0.1:{free_port()}/hook", ["printer.offline"])
    farm.world.set_online(next(iter(farm.world.printers)), online=False)
    await wait_until(lambda: farm.ctx.counters.webhooks["failed"] >= 2)
    _, body = await farm.call("GET", f"/v1/webhooks/{slow}/deliveries")
    assert [d["error"] for d in body["data"]] == ["timeout", "timeout"]
    _, body = await farm.call("GET", f"/v1/webhooks/{dead}/deliveries")
    assert [d["status_code"] for d in body["data"]] == [None, None]
    assert all(d["error"].startswith("connection error") for d in body["data"])


@pytest.mark.parametrize("config", [SimConfig(seed=5, webhook_retry_delays=(0.3, 0.3))])
async def test_deleting_a_webhook_stops_deliveries(farm: Farm, receiver: Receiver) -> None:
    receiver.statuses = [500] * 10
    hook_id = await farm.subscribe(receiver.url, ["job.created"])
    await farm.call("POST", "/v1/jobs", json={"file_url": job_url("stop"), "group": "nowhere"})
    await receiver.wait_for(1)
    assert farm.app[HUB].pending(hook_id) == 1
    status, _ = await farm.call("DELETE", f"/v1/webhooks/{hook_id}")
    assert status == 200
    await asyncio.sleep(0)
    assert farm.app[HUB].pending() == 0
    await farm.call("POST", "/v1/jobs", json={"file_url": job_url("after"), "group": "nowhere"})
    await asyncio.sleep(0.5)
    assert len(receiver.received) == 1


async def test_event_filtering_through_a_print(farm: Farm, receiver: Receiver) -> None:
    await farm.subscribe(receiver.url, ["job.completed"])
    await farm.subscribe(receiver.url + "?all=1", ["*"])
    a1 = next(p.id for p in farm.world.printers.values() if p.name == "A1-01")
    _, body = await farm.call(
        "POST", "/v1/jobs", json={"file_url": job_url("gear"), "printer_id": a1}
    )
    job_id = body["data"]["id"]
    farm.world.clock.advance(3000)
    await farm.call("GET", f"/v1/jobs/{job_id}")
    await farm.call("POST", f"/v1/printers/{a1}/control", json={"action": "clear_bed"})
    await receiver.wait_for(6)
    await asyncio.sleep(0.05)
    kinds = [d.payload["type"] for d in receiver.received]
    assert kinds.count("job.completed") == 2
    assert {"job.created", "job.assigned", "job.started", "printer.ready"} <= set(kinds)
    assert "printer.added" not in kinds
    completed = receiver.of_type("job.completed")[0].payload["data"]
    assert completed["job"]["status"] == "completed"
    assert completed["printer"]["id"] == a1
    assert completed["printer"]["status"] == "finished"
    assert completed["material"]["consumed_grams"] == pytest.approx(15, abs=0.01)
    assert completed["details"]["consumed_grams"] == pytest.approx(15, abs=0.01)
    ready = receiver.of_type("printer.ready")[0].payload["data"]
    assert ready["job"] is None
    assert ready["printer"]["status"] == "idle"


async def test_events_from_another_thread(farm: Farm, receiver: Receiver) -> None:
    await farm.subscribe(receiver.url, ["printer.offline", "material.low_stock"])
    printer_id = next(iter(farm.world.printers))
    await asyncio.to_thread(farm.world.set_online, printer_id, online=False)
    spool_id = next(iter(farm.world.spools))
    farm.world.update_spool(spool_id, remaining_grams=10.0)
    await receiver.wait_for(2)
    assert receiver.of_type("printer.offline")[0].payload["data"]["printer"]["online"] is False
    low = receiver.of_type("material.low_stock")[0].payload["data"]
    assert low["material"]["id"] == spool_id
    assert low["material"]["status"] == "low_stock"


async def test_test_delivery(farm: Farm, receiver: Receiver) -> None:
    hook_id = await farm.subscribe(receiver.url, ["job.failed"])
    status, body = await farm.call("POST", f"/v1/webhooks/{hook_id}/test")
    assert status == 200
    (delivery,) = await receiver.wait_for(1)
    assert delivery.payload["type"] == "webhook.test"
    assert delivery.payload["id"] == body["data"]["event_id"]
    status, _ = await farm.call("POST", "/v1/webhooks/whk_missing/test")
    assert status == 404


@pytest.mark.parametrize("config", [SimConfig(seed=5, webhook_retry_delays=(30.0,))])
async def test_shutdown_cancels_pending_deliveries(farm: Farm, receiver: Receiver) -> None:
    receiver.statuses = [500]
    await farm.subscribe(receiver.url, ["job.created"])
    await farm.call("POST", "/v1/jobs", json={"file_url": job_url("bye"), "group": "nowhere"})
    await receiver.wait_for(1)
    hub = farm.app[HUB]
    assert hub.pending() == 1
    await farm.server.close()
    assert hub.pending() == 0
    farm.world.submit_job(source="autoprintfarm", file_url=job_url("later"), group="nowhere")
    await asyncio.sleep(0.05)
    assert len(receiver.received) == 1
