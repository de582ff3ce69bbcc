"""Tests for farmsim's certificate authority."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from farmsim.certs import CertificateAuthority

if TYPE_CHECKING:
    from pathlib import Path

SERIAL = "01P00A123456789"


@pytest.fixture(name="ca")
def ca_fixture(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca")


def test_ca_is_a_proper_ca(ca: CertificateAuthority) -> None:
    cert = x509.load_pem_x509_certificate(ca.cert_path.read_bytes())
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert ca.cert_path.is_absolute()
    assert ca.key_path.stat().st_mode & 0o077 == 0
    assert ca.certificate == cert


def test_server_certificate_names_the_serial(ca: CertificateAuthority) -> None:
    cert_path, key_path = ca.issue(SERIAL)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SERIAL
    assert cert.issuer == ca.certificate.subject
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost", SERIAL]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.IPv4Address("127.0.0.1")]
    cert.verify_directly_issued_by(ca.certificate)
    assert key_path.stat().st_mode & 0o077 == 0
    assert ca.issue(SERIAL) == (cert_path, key_path)
    assert cert_path.read_bytes() == ca.server_cert_path(SERIAL).read_bytes()


def test_ca_is_reloaded_from_its_directory(tmp_path: Path) -> None:
    first = CertificateAuthority.create(tmp_path / "ca")
    issued = first.issue(SERIAL)[0].read_bytes()
    second = CertificateAuthority(tmp_path / "ca")
    assert second.certificate == first.certificate
    assert second.issue(SERIAL)[0].read_bytes() == issued


def test_new_ca_forgets_old_server_certificates(tmp_path: Path) -> None:
    first = CertificateAuthority.create(tmp_path / "ca")
    first.issue(SERIAL)
    first.cert_path.unlink()
    second = CertificateAuthority.create(tmp_path / "ca")
    cert = x509.load_pem_x509_certificate(second.issue(SERIAL)[0].read_bytes())
    cert.verify_directly_issued_by(second.certificate)


def test_ca_key_must_be_ec(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca.key_path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(TypeError, match="EC private key"):
        CertificateAuthority(tmp_path / "ca")


async def _handshake(port: int, context: ssl.SSLContext, server_hostname: str) -> str:
    _, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname=server_hostname
    )
    peer = writer.get_extra_info("peercert")
    writer.close()
    await writer.wait_closed()
    subject = dict(item[0] for item in peer["subject"])
    return str(subject["commonName"])


async def test_default_python_context_verifies_the_chain(ca: CertificateAuthority) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ca.server_context(SERIAL))
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(5):
            default = ssl.create_default_context(cafile=str(ca.cert_path))
            assert await _handshake(port, default, SERIAL) == SERIAL
            assert await _handshake(port, default, "127.0.0.1") == SERIAL
            unchecked = ca.client_context()
            assert not unchecked.check_hostname
            assert await _handshake(port, unchecked, "printer.invalid") == SERIAL
            checked = ca.client_context(check_hostname=True)
            with pytest.raises(ssl.SSLCertVerificationError):
                await _handshake(port, checked, "printer.invalid")
            with pytest.raises(ssl.SSLCertVerificationError):
                await _handshake(port, ssl.create_default_context(), SERIAL)
    finally:
        server.close()
        await server.wait_closed()


def test_odd_names_make_safe_file_names(ca: CertificateAuthority) -> None:
    cert_path, _ = ca.issue("a/b c")
    assert cert_path.parent == ca.directory / "servers"
    assert cert_path.name == "a_b_c.pem"
