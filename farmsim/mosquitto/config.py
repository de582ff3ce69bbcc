"""Mosquitto's configuration: listeners with their own users, topic rules and certificates."""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pathlib import Path

PBKDF2_ITERATIONS: Final = 101
HOST: Final = "127.0.0.1"


def password_hash(password: str, *, salt: bytes | None = None) -> str:
    """Return a password hash in Mosquitto 2's PBKDF2-SHA512 format ($7$)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    encoded_salt = base64.b64encode(salt).decode()
    encoded_hash = base64.b64encode(digest).decode()
    return f"$7${PBKDF2_ITERATIONS}${encoded_salt}${encoded_hash}"


@dataclass(kw_only=True)
class Listener:
    """One Mosquitto listener: its port, protocol, users, topic rules and certificate.

    Each listener has settings of its own (`per_listener_settings true`): its users log in
    there only and see only the topics its ACL lines grant them.
    """

    name: str
    users: dict[str, str] = field(default_factory=dict)
    acl: list[str] = field(default_factory=list)
    port: int = 0
    host: str = HOST
    websockets: bool = False
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    # More lines of the listener's own section, such as `allow_zero_length_clientid false`
    options: list[str] = field(default_factory=list)

    def password_path(self, directory: Path) -> Path:
        """Return the listener's password file."""
        return directory / f"{self.name}.passwd"

    def acl_path(self, directory: Path) -> Path:
        """Return the listener's ACL file."""
        return directory / f"{self.name}.acl"

    def write_passwords(self, directory: Path) -> None:
        """Write the password file (no users: nobody can log in)."""
        path = self.password_path(directory)
        lines = "".join(f"{user}:{password_hash(pw)}\n" for user, pw in self.users.items())
        path.write_text(lines)
        path.chmod(0o600)

    def write_acl(self, directory: Path) -> None:
        """Write the ACL file."""
        path = self.acl_path(directory)
        path.write_text("".join(f"{line}\n" for line in self.acl))
        path.chmod(0o600)

    def lines(self, directory: Path) -> list[str]:
        """Return the listener's section of mosquitto.conf."""
        lines = [f"listener {self.port} {self.host}"]
        if self.websockets:
            # Without it libwebsockets binds every interface, whatever the address says
            lines += ["protocol websockets", "socket_domain ipv4"]
        lines += [
            "allow_anonymous false",
            f"password_file {self.password_path(directory)}",
            f"acl_file {self.acl_path(directory)}",
        ]
        if self.certfile is not None and self.keyfile is not None:
            if self.cafile is not None:
                lines.append(f"cafile {self.cafile}")
            lines += [
                f"certfile {self.certfile}",
                f"keyfile {self.keyfile}",
                "require_certificate false",
            ]
        return lines + self.options


def render(listeners: list[Listener], directory: Path, options: list[str]) -> str:
    """Return mosquitto.conf for the listeners, with general `options` first.

    Only options of the whole broker belong there: a listener's option written before the
    first listener makes Mosquitto open its default listener on port 1883.
    """
    lines = [
        "per_listener_settings true",
        "persistence false",
        "set_tcp_nodelay true",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "log_timestamp true",
        *options,
    ]
    if os.geteuid() == 0:
        # Started as root, Mosquitto would switch to a user that cannot read these files
        lines.insert(0, f"user {getpass.getuser()}")
    for listener in listeners:
        lines += listener.lines(directory)
    return "\n".join(lines) + "\n"
