"""The snapshot format of printfarm's tests: Home Assistant's, the same on every tested release.

Home Assistant releases serialize the same registry entries and states a little differently:
newer ones key capabilities and state attributes by StrEnum members, keep a marker for the
entity's computed name among its aliases, and link a device to one config entry instead of
several. None of that is printfarm's doing, and all of it is written the same way here on every
leg, so one set of snapshots holds for both and a real change shows on both. Nothing else is
dropped: a field that only one release has still shows, and fails the other leg.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pytest_homeassistant_custom_component.syrupy import (
    ANY,
    HomeAssistantSnapshotExtension,
    HomeAssistantSnapshotSerializer,
)

# How a device links to its config entries: several (older releases) or one (newer), and
# Home Assistant's serializer writes every one of them as ANY.
_DEVICE_ENTRY_LINKS = frozenset(
    {
        "config_entries",
        "config_entries_subentries",
        "primary_config_entry",
        "config_entry_id",
        "config_subentry_id",
    }
)


def _plain_key(key: Any) -> Any:
    """Return a StrEnum key as its string, which it equals."""
    return key.value if isinstance(key, Enum) and isinstance(key, str) else key


class PrintfarmSnapshotSerializer(HomeAssistantSnapshotSerializer):
    """Home Assistant's serializer, writing what differs between its releases one way."""

    @classmethod
    def _serialize(cls, data: Any, **kwargs: Any) -> str:
        """Write dictionaries keyed by StrEnum members with string keys."""
        if isinstance(data, dict) and any(_plain_key(key) is not key for key in data):
            data = type(data)({_plain_key(key): value for key, value in data.items()})
        return str(super()._serialize(data, **kwargs))

    @classmethod
    def _serializable_device_registry_entry(cls, data: Any) -> Any:
        """Drop the config entry links, which are ANY whatever their form."""
        serialized = super()._serializable_device_registry_entry(data)
        for key in _DEVICE_ENTRY_LINKS & set(serialized):
            assert serialized[key] is ANY, key
            del serialized[key]
        return serialized

    @classmethod
    def _serializable_entity_registry_entry(cls, data: Any) -> Any:
        """Write the aliases as a set of the strings given, without the computed-name marker."""
        serialized = super()._serializable_entity_registry_entry(data)
        serialized["aliases"] = {alias for alias in serialized["aliases"] if alias is not None}
        return serialized


class PrintfarmSnapshotExtension(HomeAssistantSnapshotExtension):
    """Home Assistant's snapshot extension with printfarm's serializer."""

    serializer_class = PrintfarmSnapshotSerializer
