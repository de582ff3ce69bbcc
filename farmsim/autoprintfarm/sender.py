"""The HTTP side of webhook deliveries: requests signed and timed, each logged as an attempt.

Under the `webhooks` faults a request is signed with a wrong secret or carries a stale
`X-Webhook-Timestamp`, as a misconfigured sender's or one with a wrong clock would.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

import aiohttp

from .envelope import is_success, iso
from .outgoing import Outgoing, SentRequest, Subscription, sign, wrong_secret

if TYPE_CHECKING:
    from farmsim.context import SimContext

USER_AGENT = "AutoPrintFarm-Webhook/1.0"


class Sender:
    """Sends the requests of webhook deliveries over one HTTP session."""

    def __init__(self, ctx: SimContext) -> None:
        """Initialize without a session; nothing is sent until `open`."""
        self.ctx = ctx
        self._session: aiohttp.ClientSession | None = None

    @property
    def running(self) -> bool:
        """Return whether requests can be sent."""
        return self._session is not None

    async def open(self) -> None:
        """Open the HTTP session."""
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def request(self, outgoing: Outgoing, attempt: int) -> SentRequest:
        """Return the request of an attempt, signed and timed as the faults say."""
        faults, rng = self.ctx.faults.webhooks, self.ctx.rng
        counters = self.ctx.counters.webhooks
        secret = outgoing.subscription.secret
        if faults.take_wrong_secret(rng):
            counters["wrong_secret"] += 1
            secret = wrong_secret(secret)
        sent_at = time.time()
        if faults.take_stale(rng):
            counters["stale"] += 1
            sent_at -= faults.stale_seconds
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Webhook-Id": outgoing.event_id,
            "X-Webhook-Event": outgoing.kind,
            "X-Webhook-Timestamp": str(int(sent_at)),
            "X-Webhook-Signature": sign(secret, outgoing.body),
        }
        return SentRequest(
            event_id=outgoing.event_id,
            kind=outgoing.kind,
            attempt=attempt,
            headers=headers,
            body=outgoing.body,
        )

    async def send(
        self, subscription: Subscription, sent: SentRequest, *, replay: bool = False
    ) -> dict[str, Any] | None:
        """POST a request and log it as an attempt; return its record (None: not sent).

        A replay is the same request again; the requests first sent are kept for replays.
        """
        session = self._session
        if session is None:
            return None
        counters = self.ctx.counters.webhooks
        counters["attempts"] += 1
        if replay:
            counters["replayed"] += 1
        else:
            subscription.sent.append(sent)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            async with session.post(
                subscription.url,
                data=sent.body,
                headers=dict(sent.headers),
                timeout=aiohttp.ClientTimeout(total=self.ctx.config.webhook_timeout),
            ) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            error = "timeout"
        except aiohttp.ClientError as err:
            error = f"connection error: {err.__class__.__name__}"
        success = status is not None and is_success(status)
        if status is not None and not success:
            error = f"HTTP {status}"
        record = {
            "id": f"dlv_{uuid.uuid4().hex[:12]}",
            "event_id": sent.event_id,
            "event_type": sent.kind,
            "attempt": sent.attempt,
            "status_code": status,
            "success": success,
            "error": error,
            "duration_ms": round((time.monotonic() - started) * 1000),
            "attempted_at": iso(time.time()),
        }
        subscription.deliveries.append(record)
        return record
