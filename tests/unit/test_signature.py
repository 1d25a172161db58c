"""`Content-Hmac: sha256=<hex>` over the raw body, checked against one or more secrets."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared.signature import InvalidSignature, sign, verify_clicksign_signature

SECRET = "973d92ca80c2206a0e65b35d2371d595"
BODY = '{"event":{"name":"sign"},"document":{"key":"d-1","filename":"Contrato São Paulo.pdf"}}'
BODY_BYTES = BODY.encode()


def test_sign_is_hmac_sha256_hex_of_the_raw_body_with_prefix() -> None:
    expected = hmac.new(SECRET.encode(), BODY_BYTES, hashlib.sha256).hexdigest()
    assert sign(BODY_BYTES, SECRET) == f"sha256={expected}"


def test_valid_signature_is_accepted() -> None:
    verify_clicksign_signature(BODY_BYTES, sign(BODY_BYTES, SECRET), [SECRET])


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(InvalidSignature):
        verify_clicksign_signature(BODY_BYTES, sign(BODY_BYTES, "another-secret"), [SECRET])


def test_tampered_body_is_rejected() -> None:
    header = sign(BODY_BYTES, SECRET)
    with pytest.raises(InvalidSignature):
        verify_clicksign_signature(BODY_BYTES.replace(b"d-1", b"d-2"), header, [SECRET])


def test_reformatted_json_is_rejected() -> None:
    header = sign(BODY_BYTES, SECRET)
    with pytest.raises(InvalidSignature):
        verify_clicksign_signature(BODY_BYTES.replace(b",", b", "), header, [SECRET])


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_is_rejected(header: str | None) -> None:
    with pytest.raises(InvalidSignature, match="missing"):
        verify_clicksign_signature(BODY_BYTES, header, [SECRET])


def test_header_without_sha256_prefix_is_rejected() -> None:
    bare_digest = sign(BODY_BYTES, SECRET).removeprefix("sha256=")
    with pytest.raises(InvalidSignature, match="sha256="):
        verify_clicksign_signature(BODY_BYTES, bare_digest, [SECRET])


def test_uppercase_hex_is_accepted() -> None:
    digest = sign(BODY_BYTES, SECRET).removeprefix("sha256=")
    verify_clicksign_signature(BODY_BYTES, f"sha256={digest.upper()}", [SECRET])


def test_surrounding_whitespace_is_tolerated() -> None:
    verify_clicksign_signature(BODY_BYTES, f"  {sign(BODY_BYTES, SECRET)} ", [SECRET])


@pytest.mark.parametrize("signing_secret", ["old-secret-1234", "new-secret-5678"])
def test_either_secret_is_accepted_during_rotation(signing_secret: str) -> None:
    verify_clicksign_signature(
        BODY_BYTES, sign(BODY_BYTES, signing_secret), ["old-secret-1234", "new-secret-5678"]
    )


def test_no_configured_secret_accepts_nothing() -> None:
    with pytest.raises(InvalidSignature):
        verify_clicksign_signature(BODY_BYTES, sign(BODY_BYTES, SECRET), [])


def test_garbage_after_prefix_is_rejected() -> None:
    with pytest.raises(InvalidSignature):
        verify_clicksign_signature(BODY_BYTES, "sha256=não-é-hex", [SECRET])


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing Content-Hmac header"),
        ("md5=0123abcd", "Content-Hmac header does not start with sha256="),
        ("sha256=" + "0" * 64, "Content-Hmac does not match the body"),
    ],
)
def test_each_rejection_says_why_in_the_401_answer(header: str | None, reason: str) -> None:
    with pytest.raises(InvalidSignature) as caught:
        verify_clicksign_signature(BODY_BYTES, header, [SECRET])

    assert str(caught.value) == reason
