"""Material profile endpoints: print temperatures, density and cost per filament type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import validate
from .envelope import ApiError, ok, paginated, read_json, reject, sort_items
from .formats import MAX_PRICE
from .state import IDEMPOTENCY, Route, world_of
from .views import profile_view

if TYPE_CHECKING:
    from aiohttp import web

    from farmsim.models import MaterialProfile

PROFILE_SORT = ("id", "name", "material", "cost_per_kg", "created_at", "updated_at")
FIELDS = ("name", "material", "nozzle_temp", "bed_temp", "density", "cost_per_kg")
DEFAULTS = {"density": 1.24, "cost_per_kg": 20.0}


def _profile(request: web.Request) -> MaterialProfile:
    profile_id = request.match_info["profile_id"]
    if (profile := world_of(request).profiles.get(profile_id)) is None:
        msg = f"No material profile with ID {profile_id}"
        raise ApiError(404, "invalid_profile", "Material profile not found", msg)
    return profile


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    validate.only(body, FIELDS)
    values: dict[str, Any] = {
        "name": validate.text(body, "name"),
        "material": validate.text(body, "material"),
        "nozzle_temp": validate.number(body, "nozzle_temp", minimum=150, maximum=350),
        "bed_temp": validate.number(body, "bed_temp", minimum=0, maximum=120),
        "cost_per_kg": validate.number(body, "cost_per_kg", maximum=MAX_PRICE),
    }
    if (density := validate.number(body, "density")) is not None:
        if density <= 0:
            reject("density", "must be greater than 0")
        values["density"] = density
    if values["material"]:
        values["material"] = values["material"].upper()
    return {name: value for name, value in values.items() if value is not None}


async def list_profiles(request: web.Request) -> web.Response:
    """List material profiles, optionally of one material type."""
    world = world_of(request)
    items = [profile_view(profile) for profile in world.profiles.values()]
    if material := request.query.get("material"):
        items = [item for item in items if item["material"].lower() == material.lower()]
    return paginated(request, sort_items(items, request.query.get("sort"), PROFILE_SORT))


async def create_profile(request: web.Request) -> web.Response:
    """Add a material profile."""
    world = world_of(request)
    body = await read_json(request)

    async def produce() -> web.Response:
        values = {**DEFAULTS, **_fields(body)}
        for name in ("name", "material", "nozzle_temp", "bed_temp"):
            if name not in values:
                reject(name, "is required")
        profile = world.add_profile(**values)
        return ok(profile_view(profile), status=201)

    return await request.app[IDEMPOTENCY].run(request, body, produce)


async def get_profile(request: web.Request) -> web.Response:
    """Return one material profile."""
    return ok(profile_view(_profile(request)))


async def update_profile(request: web.Request) -> web.Response:
    """Change a material profile."""
    profile = _profile(request)
    values = _fields(await read_json(request))
    for name, value in values.items():
        setattr(profile, name, value)
    profile.updated_at = world_of(request).clock.now()
    return ok(profile_view(profile))


async def delete_profile(request: web.Request) -> web.Response:
    """Remove a material profile."""
    profile = _profile(request)
    del world_of(request).profiles[profile.id]
    return ok({"id": profile.id, "deleted": True})


ROUTES = (
    Route(method="GET", path="/materials/profiles", handler=list_profiles, scope="materials:read"),
    Route(
        method="POST", path="/materials/profiles", handler=create_profile, scope="materials:write"
    ),
    Route(
        method="GET",
        path="/materials/profiles/{profile_id}",
        handler=get_profile,
        scope="materials:read",
    ),
    Route(
        method="PATCH",
        path="/materials/profiles/{profile_id}",
        handler=update_profile,
        scope="materials:write",
    ),
    Route(
        method="DELETE",
        path="/materials/profiles/{profile_id}",
        handler=delete_profile,
        scope="materials:write",
    ),
)
