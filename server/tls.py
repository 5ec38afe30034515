"""HTTPS: the demo's self-signed certificate, fingerprints, and the server's SSL context.

Browsers grant camera and microphone only to secure pages, and hall terminals reach the
server across the network, so the server speaks HTTPS. In production the province's own
certificate is given with ``GIAOBAN_TLS_CERT`` and ``GIAOBAN_TLS_KEY``.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from recordings.files import private_dir, write_private

DEMO_DAYS = 397  # what browsers accept for a server certificate
RENEW_BEFORE = timedelta(days=30)


def local_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (how terminals on the network reach it)."""
    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent; picks the outgoing address
            found.append(probe.getsockname()[0])
        except OSError:
            pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(str(info[4][0]))
    except OSError:
        pass
    return [a for a in dict.fromkeys(found) if not a.startswith("127.")]


def ensure_demo_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for this machine's names and addresses, made once and reused."""
    private_dir(directory)
    cert_path, key_path = directory / "demo-cert.pem", directory / "demo-key.pem"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE and _covers_addresses(cert):
            return cert_path, key_path

    key = ec.generate_private_key(ec.SECP256R1())
    hostname = socket.gethostname()
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(hostname)]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ["127.0.0.1", *local_addresses()]]
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"giaoban demo ({hostname})"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "giaoban demo"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=DEMO_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _covers_addresses(cert: x509.Certificate) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    return set(local_addresses()) <= present


def fingerprint(cert_path: Path) -> str:
    """SHA-256 fingerprint of the certificate, as browsers show it (AB:CD:…)."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def spki_hash(cert_path: Path) -> str:
    """Base64 SHA-256 of the public key (Chromium's ``--ignore-certificate-errors-spki-list``)."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return base64.b64encode(digest.finalize()).decode()


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context
