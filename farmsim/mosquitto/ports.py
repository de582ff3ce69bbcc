"""Free loopback ports for Mosquitto's listeners and the relays in front of them."""

from __future__ import annotations

import contextlib
import random
import socket
from pathlib import Path
from typing import Final

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
    connections or by servers bound to port 0, so a port can be bound again after a stop.
    """
    ports: list[int] = []
    if count <= 0:
        return ports
    low, _ = _ephemeral_range()
    if low - _PORT_FLOOR > 1000:  # noqa: PLR2004
        for _ in range(max(1000, 4 * count)):
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
