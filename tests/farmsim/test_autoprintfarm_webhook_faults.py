"""Tests for farmsim's misbehaving webhook sender, switched through the admin API.

The receiver checks deliveries as a careful one does: signature, timestamp within five
minutes, and event ids seen before (401, 401 and 409), so the delivery log shows what each
fault did to it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from farmsim import FarmSim
from farmsim.testing import running_farmsim

from .helpers import HOST, wait_until

SECRET = "whsec_faults_0123456789abcdef"
TOLERANCE = 300
EVENTS = ["printer.offline", "printer.online"]


@dataclass
class Sent:
    """One request the receiver got, and its answer."""

    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event_id(self) -> str:
        """Return the delivery's event id."""
        return self.headers["X-Webhook-Id"]


@dataclass
class Receiver:
    """A webhook target that verifies deliveries and records them with its answers."""

    received: list[Sent] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    url: str = ""

    def verdict(self, headers: dict[str, str], body: bytes) -> int:
        """Return the status a careful receiver answers."""
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get("X-Webhook-Signature", ""), expected):
            return 401
        if abs(time.time() - int(headers["X-Webhook-Timestamp"])) > TOLERANCE:
            return 401
        if headers["X-Webhook-Id"] in self.seen:
            return 409
        self.seen.add(headers["X-Webhook-Id"])
        return 200

    async def handle(self, request: web.Request) -> web.Response:
        """Record the delivery and answer it."""
        headers, body = dict(request.headers), await request.read()
        status = self.verdict(headers, body)
        self.received.append(Sent(headers, body, status))
        return web.Response(status=status)

    def ids(self) -> list[str]:
        """Return the event ids received, in order."""
        return [sent.event_id for sent in self.received]


@dataclass
class Farm:
    """A running farmsim with an admin client and a subscription to the receiver."""

    sim: FarmSim
    http: aiohttp.ClientSession
    hook: str = ""

    async def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the admin API; return status and JSON body."""
        url = f"{self.sim.admin_url}/{path}"
        async with self.http.request(method, url, json=body) as response:
            return response.status, await response.json()

    async def faults(self, **changes: Any) -> None:
        """Switch webhook faults."""
        status, body = await self.admin("PATCH", "faults/webhooks", changes)
        assert status == 200, body

    async def deliveries(self) -> list[dict[str, Any]]:
        """Return the subscription's delivery log, oldest first."""
        conn = self.sim.connection["autoprintfarm"]
        headers = {"Authorization": f"Bearer {conn['api_key']}"}
        url = f"{conn['base_url']}/webhooks/{self.hook}/deliveries"
        async with self.http.get(url, headers=headers) as response:
            return list(reversed((await response.json())["data"]))

    def toggle(self) -> None:
        """Take the first printer off the network or back on: one event."""
        printer = next(iter(self.sim.world.printers.values()))
        self.sim.world.set_online(printer.id, online=not printer.online)

    def counters(self) -> dict[str, int]:
        """Return the webhook counters."""
        return dict(self.sim.ctx.counters.webhooks)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    target = Receiver()
    app = web.Application()
    app.router.add_post("/hook", target.handle)
    server = TestServer(app, host=HOST)
    await server.start_server()
    target.url = str(server.make_url("/hook"))
    yield target
    await server.close()


async def subscribe(farm: Farm, url: str) -> str:
    conn = farm.sim.connection["autoprintfarm"]
    headers = {"Authorization": f"Bearer {conn['api_key']}"}
    body = {"url": url, "events": EVENTS, "secret": SECRET}
    async with farm.http.post(f"{conn['base_url']}/webhooks", json=body, headers=headers) as resp:
        assert resp.status == 201
        return str((await resp.json())["data"]["id"])


@pytest.fixture
async def farm(receiver: Receiver) -> AsyncIterator[Farm]:
    async with (
        running_farmsim(printers=1, webhook_retry_delays=(0.02, 0.02)) as sim,
        aiohttp.ClientSession() as http,
    ):
        farm = Farm(sim, http)
        farm.hook = await subscribe(farm, receiver.url)
        yield farm


def log(deliveries: list[dict[str, Any]]) -> list[tuple[int, int | None]]:
    return [(d["attempt"], d["status_code"]) for d in deliveries]


async def test_wrong_secret(farm: Farm, receiver: Receiver) -> None:
    await farm.faults(wrong_secret_rate=1.0)
    farm.toggle()
    await wait_until(lambda: farm.counters().get("failed") == 1)
    assert [sent.status for sent in receiver.received] == [401, 401, 401]
    assert log(await farm.deliveries()) == [(1, 401), (2, 401), (3, 401)]
    assert receiver.seen == set()
    # One attempt signed wrongly: its retry is signed with the secret, and delivered
    await farm.faults(wrong_secret_rate=0.0, wrong_secret_next=1)
    farm.toggle()
    await wait_until(lambda: farm.counters().get("delivered") == 1)
    assert log((await farm.deliveries())[3:]) == [(1, 401), (2, 200)]
    counters = farm.counters()
    assert (counters["attempts"], counters["wrong_secret"], counters["retried"]) == (5, 4, 3)
    _, faults = await farm.admin("GET", "faults")
    assert faults["webhooks"]["wrong_secret_next"] == 0


async def test_stale_timestamp(farm: Farm, receiver: Receiver) -> None:
    await farm.faults(stale_next=1, stale_seconds=7200)
    farm.toggle()
    await wait_until(lambda: farm.counters().get("delivered") == 1)
    stale, fresh = receiver.received
    assert abs(int(stale.headers["X-Webhook-Timestamp"]) - (time.time() - 7200)) < 5
    assert abs(int(fresh.headers["X-Webhook-Timestamp"]) - time.time()) < 5
    # Signed right, and the same event: only the timestamp was stale
    assert stale.headers["X-Webhook-Signature"] == fresh.headers["X-Webhook-Signature"]
    assert (stale.status, fresh.status) == (401, 200)
    assert log(await farm.deliveries()) == [(1, 401), (2, 200)]
    assert farm.counters()["stale"] == 1


async def test_every_attempt_sent_twice(farm: Farm, receiver: Receiver) -> None:
    await farm.faults(duplicate_rate=1.0)
    farm.toggle()
    # Counted once the attempt and its replay were both answered
    await wait_until(lambda: farm.counters().get("delivered") == 1)
    first, again = receiver.received
    assert (first.headers, first.body) == (again.headers, again.body)
    assert (first.status, again.status) == (200, 409)
    deliveries = await farm.deliveries()
    assert log(deliveries) == [(1, 200), (1, 409)]
    assert {d["event_id"] for d in deliveries} == {first.event_id}
    counters = farm.counters()
    assert (counters["attempts"], counters["replayed"], counters["delivered"]) == (2, 1, 1)


async def test_replay_through_the_admin_api(farm: Farm, receiver: Receiver) -> None:
    status, body = await farm.admin("POST", f"webhooks/{farm.hook}/replay")
    assert (status, body["error"]["code"]) == (404, "nothing_to_replay")
    for delivered in (1, 2):
        farm.toggle()
        await wait_until(lambda: farm.counters().get("delivered") == delivered)  # noqa: B023
    older, newer = receiver.received
    status, record = await farm.admin("POST", f"webhooks/{farm.hook}/replay")
    assert status == 200
    assert (record["event_id"], record["status_code"], record["success"]) == (
        newer.event_id,
        409,
        False,
    )
    status, record = await farm.admin(
        "POST", f"webhooks/{farm.hook}/replay", {"event_id": older.event_id}
    )
    assert (record["event_id"], record["status_code"]) == (older.event_id, 409)
    assert receiver.ids() == [older.event_id, newer.event_id, newer.event_id, older.event_id]
    # Unchanged: the very request sent before, timestamp and signature included
    replayed = receiver.received[3]
    assert (replayed.headers, replayed.body) == (older.headers, older.body)
    assert log(await farm.deliveries()) == [(1, 200), (1, 200), (1, 409), (1, 409)]
    assert farm.counters()["replayed"] == 2
    for path, body, code in (
        ("webhooks/whk_nope/replay", None, "invalid_webhook"),
        (f"webhooks/{farm.hook}/replay", {"event_id": "evt_nope"}, "nothing_to_replay"),
    ):
        status, answer = await farm.admin("POST", path, body)
        assert (status, answer["error"]["code"]) == (404, code)
    status, _ = await farm.admin("POST", f"webhooks/{farm.hook}/replay", {"event_id": 1})
    assert status == 400


async def hold(farm: Farm, receiver: Receiver, count: int) -> list[str]:
    """Hold back `count` deliveries; return their event ids in the order they were held."""
    await farm.faults(hold=True)
    before = len(receiver.received)
    for _ in range(count):
        farm.toggle()
    _, body = await farm.admin("GET", "webhooks")
    (hook,) = body["webhooks"]
    assert hook["id"] == farm.hook
    assert len(hook["held"]) == count
    await asyncio.sleep(0.05)
    assert len(receiver.received) == before
    return [held["event_id"] for held in hook["held"]]


async def test_held_deliveries_released_in_reverse(farm: Farm, receiver: Receiver) -> None:
    held = await hold(farm, receiver, 3)
    await farm.faults(hold=False)
    status, body = await farm.admin("POST", "webhooks/release", {"order": "reverse"})
    assert status == 200
    assert [r["event_id"] for r in body["released"]] == held[::-1]
    # Every one was attempted before the answer, in the order released
    assert receiver.ids() == held[::-1]
    assert [sent.status for sent in receiver.received] == [200, 200, 200]
    assert [d["event_id"] for d in await farm.deliveries()] == held[::-1]
    counters = farm.counters()
    assert (counters["held"], counters["released"], counters["attempts"]) == (3, 3, 3)
    _, body = await farm.admin("GET", "webhooks")
    assert body["webhooks"][0]["held"] == []


async def test_held_deliveries_shuffled_by_a_seed(farm: Farm, receiver: Receiver) -> None:
    held = await hold(farm, receiver, 6)
    assert farm.counters()["held"] == 6
    status, body = await farm.admin("POST", "webhooks/release", {"order": "sideways"})
    assert status == 400
    assert "sideways" in body["error"]["message"]
    status, body = await farm.admin("POST", "webhooks/release", {"order": "shuffle", "seed": 7})
    released = [r["event_id"] for r in body["released"]]
    assert released == receiver.ids()
    shuffle = [held.index(event_id) for event_id in released]
    assert sorted(shuffle) == list(range(6))
    assert shuffle != list(range(6))
    # The hold stayed on: six more are held, and the same seed shuffles them alike
    again = await hold(farm, receiver, 6)
    _, body = await farm.admin("POST", "webhooks/release", {"order": "shuffle", "seed": 7})
    assert [again.index(r["event_id"]) for r in body["released"]] == shuffle
    assert receiver.ids()[6:] == [r["event_id"] for r in body["released"]]


async def test_release_of_one_subscription_and_reset(farm: Farm, receiver: Receiver) -> None:
    other = await subscribe(farm, receiver.url + "?other=1")
    await farm.faults(hold=True)
    farm.toggle()
    status, body = await farm.admin("POST", "webhooks/release", {"webhook_id": other})
    assert [r["webhook_id"] for r in body["released"]] == [other]
    assert len(receiver.received) == 1
    status, body = await farm.admin("POST", "webhooks/release", {"webhook_id": 5})
    assert status == 400
    # Resetting the faults lets the rest go, in the order held
    status, faults = await farm.admin("POST", "faults/reset")
    assert faults["webhooks"]["hold"] is False
    assert len(receiver.received) == 2
    assert len(set(receiver.ids())) == 1


async def test_deleting_a_subscription_drops_its_held_deliveries(
    farm: Farm, receiver: Receiver
) -> None:
    await hold(farm, receiver, 2)
    conn = farm.sim.connection["autoprintfarm"]
    headers = {"Authorization": f"Bearer {conn['api_key']}"}
    url = f"{conn['base_url']}/webhooks/{farm.hook}"
    async with farm.http.delete(url, headers=headers) as response:
        assert response.status == 200
    status, body = await farm.admin("POST", "webhooks/release")
    assert (status, body["released"]) == (200, [])
    assert receiver.received == []


async def test_admin_refuses_unknown_webhook_switches(farm: Farm) -> None:
    for bad in ({"hold": 1}, {"stale_seconds": -1}, {"replay_everything": True}):
        status, _ = await farm.admin("PATCH", "faults/webhooks", bad)
        assert status == 400, bad
