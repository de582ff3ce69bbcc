"""A certificate authority for the simulated printers' TLS listeners."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import ssl
from typing import TYPE_CHECKING, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    from pathlib import Path

LOGGER = logging.getLogger(__name__)

CA_NAME: Final = "farmsim BBL CA"
CA_DAYS: Final = 3650
SERVER_DAYS: Final = 825
_BACKDATE: Final = dt.timedelta(days=1)


def _new_key() -> ec.EllipticCurvePrivateKey:
    """Return a new EC P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Return a private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read."""
    path.write_bytes(data)
    path.chmod(0o600)


def _safe_name(name: str) -> str:
    """Return a name usable as a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "server"


class CertificateAuthority:
    """A CA kept in a directory (`ca.pem`, `ca.key`) that issues printer certificates."""

    def __init__(self, directory: Path) -> None:
        """Load the CA from `directory`, creating it there first if it is missing."""
        self.directory = directory.resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.cert_path.exists() and self.key_path.exists():
            self._key = self._load_key(self.key_path)
            self._cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        else:
            self._key, self._cert = self._create()

    @classmethod
    def create(cls, directory: Path) -> CertificateAuthority:
        """Return the CA kept in `directory`, creating it if it does not exist yet."""
        return cls(directory)

    @property
    def cert_path(self) -> Path:
        """Return the absolute path of the CA certificate (PEM)."""
        return self.directory / "ca.pem"

    @property
    def key_path(self) -> Path:
        """Return the absolute path of the CA private key (PEM)."""
        return self.directory / "ca.key"

    @property
    def certificate(self) -> x509.Certificate:
        """Return the CA certificate."""
        return self._cert

    def server_cert_path(self, name: str) -> Path:
        """Return where the certificate for `name` is (or will be) stored."""
        return self.directory / "servers" / f"{_safe_name(name)}.pem"

    def server_key_path(self, name: str) -> Path:
        """Return where the private key for `name` is (or will be) stored."""
        return self.directory / "servers" / f"{_safe_name(name)}.key"

    def issue(self, name: str) -> tuple[Path, Path]:
        """Return the certificate and key paths for server `name`, issuing them if needed."""
        cert_path = self.server_cert_path(name)
        key_path = self.server_key_path(name)
        if cert_path.exists() and key_path.exists():
            return cert_path, key_path
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        key = _new_key()
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                        x509.DNSName("localhost"),
                        x509.DNSName(name),
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        _write_private(key_path, _key_pem(key))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        LOGGER.debug("Issued a certificate for %s", name)
        return cert_path, key_path

    def server_context(self, name: str) -> ssl.SSLContext:
        """Return a TLS server context presenting the certificate of `name`."""
        cert_path, key_path = self.issue(name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_path, key_path)
        return context

    def client_context(self, *, check_hostname: bool = False) -> ssl.SSLContext:
        """Return a default client context that trusts this CA (names unchecked by default)."""
        context = ssl.create_default_context(cafile=str(self.cert_path))
        context.check_hostname = check_hostname
        return context

    def _create(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """Create a new CA key and self-signed certificate; forget certificates of an old CA."""
        for stale in self.directory.glob("servers/*"):
            stale.unlink()
        key = _new_key()
        now = dt.datetime.now(dt.UTC)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "farmsim"),
                x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(self.key_path, _key_pem(key))
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        LOGGER.debug("Created a CA in %s", self.directory)
        return key, cert

    @staticmethod
    def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
        """Load the CA key, which must be an EC key."""
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            msg = f"{path} does not hold an EC private key"
            raise TypeError(msg)
        return key
