"""The signing identity, PAdES signatures on the minutes and detached CMS signatures."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509

from recordings.minutes_content import MinutesDocument, content_of
from recordings.minutes_pdf import render_pdf
from recordings.signing import (
    SigningError,
    ensure_signing_identity,
    sign_detached,
    sign_pdf,
    validate_pdf,
    verify_detached,
)

ORGANISATION = "VĂN PHÒNG UBND TỈNH QUẢNG BÌNH"
Identity = tuple[Path, Path]


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return ensure_signing_identity(tmp_path_factory.mktemp("signing"), ORGANISATION)


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return ensure_signing_identity(tmp_path_factory.mktemp("other"), ORGANISATION)


@pytest.fixture(scope="module")
def pdf() -> bytes:
    tz = dt.timezone(dt.timedelta(hours=7))
    return render_pdf(
        content_of(
            MinutesDocument(
                governing_body="UBND TỈNH QUẢNG BÌNH",
                issuing_body="VĂN PHÒNG UBND TỈNH",
                number="05/BB-UBND",
                place="Quảng Bình",
                date=dt.date(2026, 1, 5),
                subject="Hội nghị giao ban trực tuyến",
                started=dt.datetime(2026, 1, 5, 8, 0, tzinfo=tz),
                ended=dt.datetime(2026, 1, 5, 9, 0, tzinfo=tz),
                location="Hội trường UBND tỉnh Quảng Bình",
                attendance=(),
                chair="Trần Văn Phúc",
                secretary="Lê Thị Hồng Nhung",
                sections=(),
                general_conclusions="",
                recording_links=(),
                recipients=(),
            )
        )
    )


@pytest.fixture(scope="module")
def signed(pdf: bytes, identity: Identity) -> bytes:
    return sign_pdf(
        pdf,
        *identity,
        reason="Ký biên bản cuộc họp",
        location="Quảng Bình",
        signer_name="Trần Văn Phúc",
    )


# --- PDF -------------------------------------------------------------------------------------


def test_signed_minutes_validate_as_intact_and_valid_by_the_organisation(
    signed: bytes, identity: Identity
) -> None:
    check = validate_pdf(signed, identity[0])
    assert check.intact and check.valid and check.ok
    assert check.signatures == 1
    assert ORGANISATION in check.signer
    assert check.signed_at is not None
    assert abs(check.signed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert "hợp lệ" in check.summary


def test_signing_appends_an_incremental_pades_signature(pdf: bytes, signed: bytes) -> None:
    assert signed.startswith(pdf)  # the original bytes are untouched
    tail = signed[len(pdf) :]
    assert b"/ETSI.CAdES.detached" in tail
    assert b"(ChuKy1)" in tail  # a new signature field


def test_changing_one_signed_byte_breaks_the_signature(signed: bytes, identity: Identity) -> None:
    at = signed.index(b"ReportLab PDF Library")  # the Info dictionary, inside the signed range
    tampered = signed[:at] + b"X" + signed[at + 1 :]
    check = validate_pdf(tampered, identity[0])
    assert not check.intact
    assert not check.ok
    assert "đã bị sửa" in check.summary


def test_signature_survives_a_round_trip_through_disk(
    signed: bytes, identity: Identity, tmp_path: Path
) -> None:
    path = tmp_path / "bien-ban.pdf"
    path.write_bytes(signed)
    assert validate_pdf(path.read_bytes(), identity[0]).ok


def test_a_second_signature_keeps_the_first_valid(signed: bytes, identity: Identity) -> None:
    twice = sign_pdf(
        signed,
        *identity,
        reason="Thư ký ký",
        location="Quảng Bình",
        signer_name="Lê Thị Hồng Nhung",
    )
    check = validate_pdf(twice, identity[0])
    assert check.signatures == 2
    assert check.ok, check.summary


def test_a_signature_by_an_untrusted_certificate_is_not_valid(
    signed: bytes, stranger: Identity
) -> None:
    check = validate_pdf(signed, stranger[0])  # same name, another key
    assert check.intact
    assert not check.valid and not check.ok


def test_an_unsigned_or_damaged_pdf_is_reported_not_raised(pdf: bytes, identity: Identity) -> None:
    unsigned = validate_pdf(pdf, identity[0])
    assert (unsigned.signatures, unsigned.ok) == (0, False)
    assert not validate_pdf(b"not a pdf", identity[0]).ok


# --- detached CMS ----------------------------------------------------------------------------

MANIFEST = b'{"files": ["a.mp4"]}\nline two\r\n\x00\xff binary tail'


def test_detached_signature_verifies_exactly_the_signed_bytes(identity: Identity) -> None:
    signature = sign_detached(MANIFEST, *identity)
    assert verify_detached(MANIFEST, signature, identity[0])
    altered = bytearray(MANIFEST)
    altered[3] ^= 0x01
    assert not verify_detached(bytes(altered), signature, identity[0])
    assert not verify_detached(MANIFEST + b"\n", signature, identity[0])


def test_detached_signature_fails_with_another_certificate(
    identity: Identity, stranger: Identity
) -> None:
    signature = sign_detached(MANIFEST, *identity)
    assert not verify_detached(MANIFEST, signature, stranger[0])
    assert not verify_detached(MANIFEST, sign_detached(MANIFEST, *stranger), identity[0])


def test_detached_signature_is_der_sha256_with_signing_time(identity: Identity) -> None:
    info = cms.ContentInfo.load(sign_detached(MANIFEST, *identity))
    assert info["content_type"].native == "signed_data"
    signed_data = info["content"]
    assert signed_data["encap_content_info"]["content"].native is None  # detached
    signer = signed_data["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].native == "sha256"
    attributes = {a["type"].native: a["values"][0].native for a in signer["signed_attrs"]}
    signed_at = attributes["signing_time"]
    assert abs(signed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_garbage_is_not_a_signature(identity: Identity) -> None:
    assert not verify_detached(MANIFEST, b"\x30\x03\x02\x01\x01", identity[0])
    assert not verify_detached(MANIFEST, b"", identity[0])


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_verifies_the_detached_signature(identity: Identity, tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(MANIFEST)
    (tmp_path / "data.p7s").write_bytes(sign_detached(MANIFEST, *identity))
    command = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any"]
    command += ["-in", "data.p7s", "-content", "data", "-CAfile", str(identity[0])]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode()


# --- identity --------------------------------------------------------------------------------


def test_signing_identity_is_made_once_and_reused(tmp_path: Path) -> None:
    cert_path, key_path = ensure_signing_identity(tmp_path, ORGANISATION)
    cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key_path.chmod(0o644)
    assert ensure_signing_identity(tmp_path, "Another name") == (cert_path, key_path)
    assert (cert_path.read_bytes(), key_path.read_bytes()) == (cert_pem, key_pem)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_signing_certificate_is_for_signing_and_lasts_ten_years(identity: Identity) -> None:
    cert = x509.load_pem_x509_certificate(identity[0].read_bytes())
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert not usage.key_cert_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=3650) <= lifetime <= dt.timedelta(days=3660)
    organisation = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    assert organisation[0].value == ORGANISATION


def test_a_lost_certificate_is_reissued_for_the_same_key(tmp_path: Path) -> None:
    cert_path, key_path = ensure_signing_identity(tmp_path, ORGANISATION)
    key_pem, old = key_path.read_bytes(), x509.load_pem_x509_certificate(cert_path.read_bytes())
    cert_path.unlink()
    ensure_signing_identity(tmp_path, ORGANISATION)
    new = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert key_path.read_bytes() == key_pem
    assert new.public_key() == old.public_key()


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    _, key_path = ensure_signing_identity(tmp_path, ORGANISATION)
    key_path.unlink()
    with pytest.raises(SigningError) as caught:
        ensure_signing_identity(tmp_path, ORGANISATION)
    assert caught.value.code == "signing_key_missing"
