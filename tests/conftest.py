"""Fixtures shared by every printfarm and farmsim test."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from farmsim import FarmSim
from farmsim.testing import running_farmsim

from .deprecations import DeprecationGuard


def pytest_configure(config: pytest.Config) -> None:
    """Sign one certificate before any test can freeze time.

    cryptography 50 looks `datetime.datetime` up once, at the first certificate it signs, and
    keeps it: were that first certificate signed under freezegun (farmsim making its CA in a
    test marked freeze_time), every later certificate with real datetimes would be refused.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warm-up")])
    now = dt.datetime.now(dt.UTC)
    builder = x509.CertificateBuilder(
        issuer_name=name,
        subject_name=name,
        public_key=key.public_key(),
        serial_number=1,
        not_valid_before=now,
        not_valid_after=now + dt.timedelta(days=1),
    )
    builder.sign(key, hashes.SHA256())


@pytest.fixture(autouse=True)
def deprecation_guard() -> Iterator[DeprecationGuard]:
    """Fail the test when printfarm's code uses a deprecated API (tests/deprecations.py)."""
    with DeprecationGuard() as guard:
        yield guard
    if guard.found:
        pytest.fail(
            "printfarm's code uses deprecated APIs:\n" + "\n".join(guard.found), pytrace=False
        )


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Let tests open real sockets; the test plugin still only allows 127.0.0.1."""


@pytest.fixture
async def farmsim() -> AsyncIterator[FarmSim]:
    """Run a small simulated farm on free loopback ports."""
    async with running_farmsim() as sim:
        yield sim
