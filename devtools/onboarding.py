"""Onboarding and logging in to Home Assistant, as its frontend does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from .errors import HarnessError
from .hass_api import HassApi


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


class OnboardingApi(HassApi):
    """Home Assistant's onboarding, login flow and access tokens."""

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
