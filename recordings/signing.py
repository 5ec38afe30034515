"""The deployment's X.509 signing identity, PAdES signatures on the minutes' PDF, and detached
CMS signatures for other files (the recordings' manifest, the DOCX).

The demo makes its own self-signed identity (``ensure_signing_identity``); a province signs
with the certificate its CA issued (Ban Cơ yếu Chính phủ or a licensed provider) by giving that
certificate and key instead. Everything here is synchronous and CPU-bound, and pyHanko's own
synchronous wrappers call ``asyncio.run``: call these from a worker thread
(``asyncio.to_thread``), never directly on the event loop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_certs_from_pemder, load_private_key_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from recordings.files import private_dir, write_private

log = logging.getLogger("giaoban.signing")

CERT_FILE, KEY_FILE = "signing-cert.pem", "signing-key.pem"
VALID_DAYS = 3653  # ten years
FIELD_PREFIX = "ChuKy"
_KEY_USAGE = frozenset({"digital_signature", "non_repudiation"})
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class SigningError(Exception):
    """The signing identity cannot be used; ``code`` is stable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PdfSignatureCheck:
    """What pyHanko's validator says about the signatures in a PDF."""

    intact: bool
    """Every signed byte range is unchanged and nothing but permitted updates follow."""
    valid: bool
    """Every signature is cryptographically valid and its certificate chains to the trusted
    one (independent of ``intact``: a valid signature on altered bytes is valid, not intact)."""
    signer: str
    """Subject of the (last) signer's certificate, e.g. "Common Name: VĂN PHÒNG UBND TỈNH…"."""
    signed_at: dt.datetime | None
    """Signing time the (last) signer claims (PAdES: the signature dictionary's /M)."""
    signatures: int
    """How many signatures the file carries."""
    summary: str
    """One readable line per signature, or why there is none."""

    @property
    def ok(self) -> bool:
        """Signed, intact and valid: what a reader of the document needs to know."""
        return self.intact and self.valid and self.signatures > 0


# --- identity --------------------------------------------------------------------------------


def ensure_signing_identity(directory: Path, organisation: str) -> tuple[Path, Path]:
    """The signing certificate and key (PEM) in ``directory``, made once and then reused.

    The demo identity is a self-signed EC P-256 certificate for ``organisation``, valid ten
    years, key usage digitalSignature + nonRepudiation; the key file is mode 0600. Present
    files are never replaced (documents signed with them must keep validating); a certificate
    lost while its key remains is re-issued for that key. A certificate without its key is an
    error: nothing could be signed with it.
    """
    private_dir(directory)
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    if cert_path.exists() and not key_path.exists():
        raise SigningError(
            "signing_key_missing",
            f"Có chứng thư ký số {cert_path} nhưng thiếu khóa {key_path}.",
        )
    if key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise SigningError("signing_key_type", f"{key_path}: cần khóa RSA hoặc EC.")
        if os.stat(key_path).st_mode & 0o077:
            os.chmod(key_path, 0o600)
        if cert_path.exists():
            _warn_if_other_organisation(cert_path, organisation)
            return cert_path, key_path
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        _write_private(key_path, key)
    cert = _self_signed(key, organisation)
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _self_signed(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, organisation: str
) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, organisation),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.replace(temporary, path)


def _warn_if_other_organisation(cert_path: Path, organisation: str) -> None:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if not names or names[0].value != organisation:
        log.warning(
            "signing certificate %s names another organisation than %r; kept (replace the"
            " files to change it)",
            cert_path,
            organisation,
        )


# --- PDF (PAdES) -----------------------------------------------------------------------------


def sign_pdf(
    pdf: bytes,
    cert_path: Path,
    key_path: Path,
    *,
    reason: str,
    location: str,
    signer_name: str,
) -> bytes:
    """``pdf`` with one more PAdES baseline B-B signature, in a new invisible signature field.

    The signature is appended as an incremental update, so earlier signatures stay valid.
    No timestamp and no revocation data are embedded (B-T/B-LT need a TSA and the CA's
    OCSP/CRL, which the demo certificate has not).
    """
    existing = len(PdfFileReader(BytesIO(pdf), strict=False).embedded_signatures)
    certs = list(load_certs_from_pemder([str(cert_path)]))
    if not certs:
        raise SigningError("signing_cert_missing", f"{cert_path}: không có chứng thư nào.")
    signer = signers.SimpleSigner(
        signing_cert=certs[0],  # further certificates in the file: its chain, embedded too
        signing_key=load_private_key_from_pemder(str(key_path), passphrase=None),
        cert_registry=SimpleCertificateStore.from_certs(certs),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=f"{FIELD_PREFIX}{existing + 1}",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=signer_name,
    )
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    out = signers.sign_pdf(writer, meta, signer=signer)
    return bytes(out.getvalue())


def validate_pdf(pdf: bytes, cert_path: Path) -> PdfSignatureCheck:
    """Validate every signature in ``pdf`` with pyHanko, trusting the certificate(s) in
    ``cert_path`` as roots (the demo's self-signed certificate, or the province CA's root).

    Never raises for a bad file: a file that cannot be read reports not intact, not valid.
    """
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_signatures)
    except Exception as exc:  # a damaged file is a result, not a crash
        return PdfSignatureCheck(False, False, "", None, 0, f"Không đọc được tệp PDF: {exc}")
    if not embedded:
        return PdfSignatureCheck(False, False, "", None, 0, "Tệp PDF không có chữ ký số.")

    roots = list(load_certs_from_pemder([str(cert_path)]))
    intact = valid = True
    signer, signed_at, lines = "", None, []
    for sig in embedded:
        context = ValidationContext(trust_roots=roots, allow_fetching=False)
        try:
            status = validate_pdf_signature(
                sig,
                signer_validation_context=context,
                key_usage_settings=KeyUsageConstraints(
                    key_usage=set(_KEY_USAGE), match_all_key_usages=False
                ),
            )
        except Exception as exc:
            intact = valid = False
            lines.append(f"{sig.field_name}: không kiểm tra được ({exc})")
            continue
        sig_intact = status.intact and _unmodified(status)
        sig_valid = status.valid and _trusted(status)
        intact, valid = intact and sig_intact, valid and sig_valid
        signer = status.signing_cert.subject.human_friendly
        signed_at = status.signer_reported_dt
        lines.append(f"{sig.field_name}: {_describe(status, sig_intact, sig_valid)}")
    return PdfSignatureCheck(intact, valid, signer, signed_at, len(embedded), "\n".join(lines))


def _unmodified(status: PdfSignatureStatus) -> bool:
    if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return True
    return status.coverage == SignatureCoverageLevel.ENTIRE_REVISION and bool(status.docmdp_ok)


def _trusted(status: PdfSignatureStatus) -> bool:
    """The signer's certificate chains to a trusted root (pyHanko's ``trusted`` also asks
    for ``intact``; here the two answers stay apart)."""
    return status.trust_problem_indic is None and status.validation_path is not None


def _describe(status: PdfSignatureStatus, intact: bool, valid: bool) -> str:
    who = status.signing_cert.subject.human_friendly
    when = status.signer_reported_dt.isoformat() if status.signer_reported_dt else "không rõ"
    if intact and valid:
        return f"hợp lệ, tài liệu không bị sửa sau khi ký; người ký: {who}; ký lúc {when}"
    problems = []
    if not intact:
        problems.append("tài liệu đã bị sửa sau khi ký")
    if not status.valid:
        problems.append("chữ ký không khớp với chứng thư")
    elif not _trusted(status):
        problems.append("chứng thư không phải chứng thư được tin cậy")
    return f"KHÔNG hợp lệ ({'; '.join(problems)}); người ký: {who}"


# --- detached CMS ----------------------------------------------------------------------------


def sign_detached(data: bytes, cert_path: Path, key_path: Path) -> bytes:
    """A detached CMS (PKCS #7) SignedData over exactly ``data``: DER, SHA-256, with the
    signing-time attribute. The first certificate in ``cert_path`` signs; any further ones
    (its chain) are included."""
    cert, *chain = x509.load_pem_x509_certificates(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise SigningError("signing_key_type", f"{key_path}: cần khóa RSA hoặc EC.")
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256())
    for extra in chain:
        builder = builder.add_certificate(extra)
    return builder.sign(
        serialization.Encoding.DER,
        # Binary: sign the bytes as they are (without it, line ends become CRLF first).
        [
            pkcs7.PKCS7Options.DetachedSignature,
            pkcs7.PKCS7Options.NoCapabilities,
            pkcs7.PKCS7Options.Binary,
        ],
    )


def verify_detached(data: bytes, signature: bytes, cert_path: Path) -> bool:
    """True only if ``signature`` is a detached CMS signature over exactly ``data`` made with
    the key of the (first) certificate in ``cert_path``."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        info = cms.ContentInfo.load(signature)
        if info["content_type"].native != "signed_data":
            return False
        signed = info["content"]
        if signed["encap_content_info"]["content"].native is not None:
            return False  # not detached: the signed content is not necessarily `data`
        return any(_signer_verifies(si, data, cert) for si in signed["signer_infos"])
    except (ValueError, TypeError, KeyError):
        return False


def _signer_verifies(signer_info: cms.SignerInfo, data: bytes, cert: x509.Certificate) -> bool:
    if not _identifies(signer_info["sid"], cert):
        return False
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        return False
    signed_attrs = signer_info["signed_attrs"]
    if not signed_attrs:
        return False  # we always sign with attributes; without them there is no signing time
    attrs = {a["type"].native: a["values"] for a in signed_attrs}
    if "message_digest" not in attrs or attrs.get("content_type", [None])[0].native != "data":
        return False
    if attrs["message_digest"][0].native != hashlib.new(digest_name, data).digest():
        return False
    # The signature is over the DER of the attributes as a SET OF, not as [0] IMPLICIT.
    to_verify = signed_attrs.untag().dump()
    sig = signer_info["signature"].native
    hash_algorithm = _HASHES[digest_name]()
    public_key = cert.public_key()
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(sig, to_verify, ec.ECDSA(hash_algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(sig, to_verify, padding.PKCS1v15(), hash_algorithm)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _identifies(sid: cms.SignerIdentifier, cert: x509.Certificate) -> bool:
    """The SignerInfo names this certificate (by issuer and serial, or by key identifier)."""
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    if sid.name == "issuer_and_serial_number":
        chosen = sid.chosen
        return bool(
            chosen["serial_number"].native == parsed.serial_number
            and chosen["issuer"] == parsed.issuer
        )
    return bool(sid.chosen.native == parsed.key_identifier)
