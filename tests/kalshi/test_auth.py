"""Tests for kalshikit.kalshi.auth: the string to sign, RSA-PSS / Ed25519 signatures, the three headers, key loading
and key hygiene (errors, permissions, repr, pickling).

Signatures are checked with ``cryptography`` directly (independent of the module's own ``verify``), using the
parameters Kalshi documents: RSA-PSS, SHA-256, MGF1(SHA-256), salt length = digest length (32 bytes).
"""

from __future__ import annotations

import base64
import copy
import logging
import os
import pickle
import time
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from kalshikit.config import Settings
from kalshikit.errors import ConfigError, CredentialsError
from kalshikit.kalshi.auth import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    KalshiSigner,
    load_private_key,
    load_private_key_file,
    load_public_key,
    message_to_sign,
    public_key_pem,
    sign,
    signing_path,
    verify,
)

KEY_ID = "a952bcbe-1111-4222-8333-444455556666"
TS = 1703123456789  # the example timestamp from Kalshi's quick start
PSS_DIGEST = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
PSS_MAX = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def pkcs8(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def body_lines(pem: bytes) -> list[str]:
    return [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]


def assert_no_key_text(message: str, pem: bytes) -> None:
    for line in body_lines(pem):
        assert line not in message


def rsa_verifies(pub: rsa.RSAPublicKey, signature_b64: str, message: bytes, pss: padding.PSS = PSS_DIGEST) -> bool:
    try:
        pub.verify(base64.b64decode(signature_b64, validate=True), message, pss, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# ---------------------------------------------------------------------------- the string to sign
@pytest.mark.parametrize(
    ("method", "url_or_path", "expected"),
    [
        ("GET", "/trade-api/v2/portfolio/balance", b"1703123456789GET/trade-api/v2/portfolio/balance"),
        ("get", "/trade-api/v2/portfolio/balance", b"1703123456789GET/trade-api/v2/portfolio/balance"),
        ("GET", "/trade-api/v2/portfolio/orders?limit=5", b"1703123456789GET/trade-api/v2/portfolio/orders"),
        ("POST", "/trade-api/v2/portfolio/events/orders", b"1703123456789POST/trade-api/v2/portfolio/events/orders"),
        ("delete", "/trade-api/v2/portfolio/orders/abc?x=1", b"1703123456789DELETE/trade-api/v2/portfolio/orders/abc"),
        (
            "GET",
            "https://external-api.kalshi.com/trade-api/v2/portfolio/orders?limit=5&cursor=abc",
            b"1703123456789GET/trade-api/v2/portfolio/orders",
        ),
        (
            "GET",
            "http://127.0.0.1:8080/trade-api/v2/markets?tickers=A,B",
            b"1703123456789GET/trade-api/v2/markets",
        ),
        ("GET", "wss://external-api-ws.kalshi.com/trade-api/ws/v2", b"1703123456789GET/trade-api/ws/v2"),
        ("GET", "ws://127.0.0.1:8080/trade-api/ws/v2", b"1703123456789GET/trade-api/ws/v2"),
        ("GET", "/trade-api/ws/v2", b"1703123456789GET/trade-api/ws/v2"),
    ],
)
def test_message_to_sign(method: str, url_or_path: str, expected: bytes) -> None:
    assert message_to_sign(TS, method, url_or_path) == expected
    assert message_to_sign(str(TS), method, url_or_path) == expected


@pytest.mark.parametrize(
    ("url_or_path", "expected"),
    [
        ("/trade-api/v2/markets", "/trade-api/v2/markets"),
        ("/trade-api/v2/markets?status=open", "/trade-api/v2/markets"),
        ("https://api.elections.kalshi.com/trade-api/v2/markets/KX-1?x=1", "/trade-api/v2/markets/KX-1"),
        ("https://demo-api.kalshi.co:443/trade-api/v2/exchange/status", "/trade-api/v2/exchange/status"),
        ("wss://demo-api.kalshi.co/trade-api/ws/v2?a=b", "/trade-api/ws/v2"),
    ],
)
def test_signing_path(url_or_path: str, expected: str) -> None:
    assert signing_path(url_or_path) == expected


# ---------------------------------------------------------------------------- RSA-PSS
def test_rsa_signature_uses_pss_sha256_with_digest_length_salt(rsa_key: rsa.RSAPrivateKey) -> None:
    message = message_to_sign(TS, "GET", "/trade-api/v2/portfolio/balance")
    sig = sign(rsa_key, message)
    raw = base64.b64decode(sig, validate=True)
    assert len(raw) == rsa_key.key_size // 8
    assert rsa_verifies(rsa_key.public_key(), sig, message, PSS_DIGEST)
    # Verifiers fixed to other explicit salt lengths reject it: the salt really is 32 bytes.
    max_salt = rsa_key.key_size // 8 - 32 - 2
    for other_salt in (0, 20, 31, 33, 64, max_salt):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=other_salt)
        assert not rsa_verifies(rsa_key.public_key(), sig, message, pss), other_salt
    # PSS is randomised: two signatures differ, both verify.
    sig2 = sign(rsa_key, message)
    assert sig2 != sig
    assert rsa_verifies(rsa_key.public_key(), sig2, message)


@pytest.mark.parametrize("pss", [PSS_MAX, PSS_DIGEST], ids=["max-length-salt", "digest-length-salt"])
def test_verifier_accepts_any_pss_salt(rsa_key: rsa.RSAPrivateKey, pss: padding.PSS) -> None:
    message = b"1703123456789GET/trade-api/v2/portfolio/balance"
    sig = base64.b64encode(rsa_key.sign(message, pss, hashes.SHA256())).decode()
    if pss is PSS_MAX:  # really signed with the longest salt, not with 32 bytes
        max_salt = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=rsa_key.key_size // 8 - 32 - 2)
        assert rsa_verifies(rsa_key.public_key(), sig, message, max_salt)
        assert not rsa_verifies(rsa_key.public_key(), sig, message, PSS_DIGEST)
    assert verify(rsa_key.public_key(), message, sig)
    assert not verify(rsa_key.public_key(), message + b"x", sig)


def test_verifier_rejects_pkcs1v15(rsa_key: rsa.RSAPrivateKey) -> None:
    message = b"1703123456789GET/trade-api/v2/portfolio/balance"
    sig = base64.b64encode(rsa_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    assert not verify(rsa_key.public_key(), message, sig)


# ---------------------------------------------------------------------------- Ed25519
def test_ed25519_signature(ed_key: ed25519.Ed25519PrivateKey) -> None:
    message = message_to_sign(TS, "GET", "/trade-api/ws/v2")
    sig = sign(ed_key, message)
    raw = base64.b64decode(sig, validate=True)
    assert len(raw) == 64
    ed_key.public_key().verify(raw, message)  # raises if invalid
    assert raw == ed_key.sign(message)  # Ed25519 is deterministic
    assert verify(ed_key.public_key(), message, sig)


# ---------------------------------------------------------------------------- known-answer rejection
GOOD = (TS, "GET", "/trade-api/v2/portfolio/balance")
TAMPERED = [
    pytest.param((TS, "GET", "/trade-api/v2/portfolio/positions"), id="other-path"),
    pytest.param((TS, "POST", "/trade-api/v2/portfolio/balance"), id="other-method"),
    pytest.param((TS + 1, "GET", "/trade-api/v2/portfolio/balance"), id="other-timestamp"),
    pytest.param((TS, "GET", "/trade-api/ws/v2"), id="ws-path"),
    pytest.param((TS, "GET", "/trade-api/v2/portfolio/balance/"), id="trailing-slash"),
]


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
@pytest.mark.parametrize("tampered", TAMPERED)
def test_verify_rejects_a_signature_over_something_else(
    rsa_key: rsa.RSAPrivateKey,
    ed_key: ed25519.Ed25519PrivateKey,
    algorithm: str,
    tampered: tuple[int, str, str],
) -> None:
    key = rsa_key if algorithm == "rsa" else ed_key
    sig = sign(key, message_to_sign(*GOOD))
    assert verify(key.public_key(), message_to_sign(*GOOD), sig)
    assert not verify(key.public_key(), message_to_sign(*tampered), sig)


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_verify_rejects_damaged_or_foreign_signatures(
    rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey, algorithm: str
) -> None:
    key = rsa_key if algorithm == "rsa" else ed_key
    message = message_to_sign(*GOOD)
    raw = bytearray(base64.b64decode(sign(key, message)))
    raw[len(raw) // 2] ^= 0x01
    assert not verify(key.public_key(), message, base64.b64encode(bytes(raw)).decode())
    assert not verify(key.public_key(), message, "not base64 !!!")
    assert not verify(key.public_key(), message, "")
    assert not verify(key.public_key(), message, base64.b64encode(b"short").decode())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048) if algorithm == "rsa" else None
    other_key = other or ed25519.Ed25519PrivateKey.generate()
    assert not verify(key.public_key(), message, sign(other_key, message))


def test_query_string_is_not_signed(rsa_key: rsa.RSAPrivateKey) -> None:
    sig = sign(rsa_key, message_to_sign(TS, "GET", "/trade-api/v2/portfolio/orders?limit=5"))
    assert verify(rsa_key.public_key(), message_to_sign(TS, "GET", "/trade-api/v2/portfolio/orders"), sig)


# ---------------------------------------------------------------------------- headers
@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_headers(rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey, algorithm: str) -> None:
    key = rsa_key if algorithm == "rsa" else ed_key
    signer = KalshiSigner(KEY_ID, key, clock_ms=lambda: TS)
    headers = signer.headers("get", "https://external-api.kalshi.com/trade-api/v2/portfolio/balance?x=1")
    assert set(headers) == {"KALSHI-ACCESS-KEY", "KALSHI-ACCESS-TIMESTAMP", "KALSHI-ACCESS-SIGNATURE"}
    assert (HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE) == (
        "KALSHI-ACCESS-KEY",
        "KALSHI-ACCESS-TIMESTAMP",
        "KALSHI-ACCESS-SIGNATURE",
    )
    assert headers["KALSHI-ACCESS-KEY"] == KEY_ID
    assert headers["KALSHI-ACCESS-TIMESTAMP"] == "1703123456789"
    expected_message = b"1703123456789GET/trade-api/v2/portfolio/balance"
    raw = base64.b64decode(headers["KALSHI-ACCESS-SIGNATURE"], validate=True)
    if algorithm == "rsa":
        rsa_key.public_key().verify(raw, expected_message, PSS_DIGEST, hashes.SHA256())
    else:
        ed_key.public_key().verify(raw, expected_message)
    assert signer.algorithm == ("rsa-pss" if algorithm == "rsa" else "ed25519")


def test_headers_explicit_timestamp_and_default_clock(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = KalshiSigner(KEY_ID, rsa_key, clock_ms=lambda: TS)
    h = signer.headers("GET", "/trade-api/ws/v2", timestamp_ms=TS + 5)
    assert h["KALSHI-ACCESS-TIMESTAMP"] == str(TS + 5)
    assert verify(rsa_key.public_key(), b"%dGET/trade-api/ws/v2" % (TS + 5), h["KALSHI-ACCESS-SIGNATURE"])

    real = KalshiSigner(KEY_ID, rsa_key)
    before = time.time_ns() // 1_000_000
    ts = real.headers("GET", "/trade-api/v2/exchange/status")["KALSHI-ACCESS-TIMESTAMP"]
    after = time.time_ns() // 1_000_000
    assert len(ts) == 13 and ts.isdigit()
    assert before <= int(ts) <= after


def test_empty_key_id_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(CredentialsError, match="KALSHI_API_KEY_ID"):
        KalshiSigner("", rsa_key)


# ---------------------------------------------------------------------------- key loading
def key_formats(rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey) -> dict[str, tuple[bytes, bytes]]:
    """name -> (private PEM, expected public PEM)."""
    traditional = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return {
        "rsa-pkcs8": (pkcs8(rsa_key), public_key_pem(rsa_key)),
        "rsa-traditional": (traditional, public_key_pem(rsa_key)),
        "ed25519-pkcs8": (pkcs8(ed_key), public_key_pem(ed_key)),
    }


@pytest.mark.parametrize("fmt", ["rsa-pkcs8", "rsa-traditional", "ed25519-pkcs8"])
def test_load_private_key_from_text_and_file(
    rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey, tmp_path: Path, fmt: str
) -> None:
    pem, expected_public = key_formats(rsa_key, ed_key)[fmt]
    assert b"BEGIN" in pem and b"BEGIN PUBLIC KEY" in expected_public
    for loaded in (load_private_key(pem), load_private_key(pem.decode())):
        assert public_key_pem(loaded) == expected_public
    path = tmp_path / "k.pem"
    path.write_bytes(pem)
    path.chmod(0o600)
    assert public_key_pem(load_private_key_file(path)) == expected_public
    assert public_key_pem(load_private_key_file(str(path))) == expected_public


def test_public_key_round_trip(rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey) -> None:
    for key in (rsa_key, ed_key):
        pub = load_public_key(public_key_pem(key))
        msg = message_to_sign(*GOOD)
        assert verify(pub, msg, sign(key, msg))
        assert KalshiSigner(KEY_ID, key).public_key_pem() == public_key_pem(key)
    with pytest.raises(CredentialsError):
        load_public_key("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


def test_encrypted_key_is_refused_without_key_text(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse"),
    )
    with pytest.raises(CredentialsError) as info:
        load_private_key(encrypted)
    msg = str(info.value)
    assert "encrypted" in msg or "password" in msg
    assert_no_key_text(msg, encrypted)
    assert info.value.__cause__ is None

    path = tmp_path / "enc.key"
    path.write_bytes(encrypted)
    path.chmod(0o600)
    with pytest.raises(CredentialsError) as info:
        load_private_key_file(path)
    assert str(path) in str(info.value)
    assert_no_key_text(str(info.value), encrypted)


GARBAGE_KEYS = [
    b"-----BEGIN PRIVATE KEY-----\nTOTALLYNOTAKEYTOTALLYNOTAKEY0123456789abcdef\n-----END PRIVATE KEY-----\n",
    b"TOTALLYNOTAKEY plain text",
    b"",
    b"-----BEGIN PUBLIC KEY-----\nTOTALLYNOTAKEY\n-----END PUBLIC KEY-----\n",
    b"\x00\x01\x02TOTALLYNOTAKEY\xff",
]


@pytest.mark.parametrize("garbage", GARBAGE_KEYS)
def test_garbage_key_is_refused_without_key_text(garbage: bytes, tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as info:
        load_private_key(garbage, source="KALSHI_PRIVATE_KEY")
    assert "TOTALLYNOTAKEY" not in str(info.value)
    assert "KALSHI_PRIVATE_KEY" in str(info.value)
    assert info.value.__cause__ is None

    path = tmp_path / "bad.key"
    path.write_bytes(garbage)
    path.chmod(0o600)
    with pytest.raises(CredentialsError) as info:
        load_private_key_file(path)
    assert "TOTALLYNOTAKEY" not in str(info.value)
    assert str(path) in str(info.value)


def test_public_key_pem_as_private_key(rsa_key: rsa.RSAPrivateKey) -> None:
    pub = public_key_pem(rsa_key)
    with pytest.raises(CredentialsError) as info:
        load_private_key(pub)
    assert_no_key_text(str(info.value), pub)


def test_unsupported_key_type_is_refused() -> None:
    ec_pem = pkcs8(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CredentialsError, match="RSA or Ed25519") as info:
        load_private_key(ec_pem)
    assert_no_key_text(str(info.value), ec_pem)


def test_missing_key_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.key"
    with pytest.raises(CredentialsError) as info:
        load_private_key_file(path)
    assert str(path) in str(info.value)
    assert "KALSHI_PRIVATE_KEY_PATH" in str(info.value)
    assert info.value.__cause__ is None


def test_key_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as info:
        load_private_key_file(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_credentials_error_is_a_config_error() -> None:
    assert issubclass(CredentialsError, ConfigError)
    assert CredentialsError.who_acts == "user"


# ---------------------------------------------------------------------------- key file permissions
@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize(
    ("mode", "warns"), [(0o644, True), (0o640, True), (0o604, True), (0o600, False), (0o400, False)]
)
def test_key_file_readable_by_others_warns(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int, warns: bool
) -> None:
    pem = pkcs8(rsa_key)
    path = tmp_path / "perm.key"
    path.write_bytes(pem)
    path.chmod(mode)
    with caplog.at_level(logging.WARNING, logger="kalshikit.kalshi.auth"):
        load_private_key_file(path)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    if warns:
        assert len(warnings) == 1
        text = warnings[0].getMessage()
        assert str(path) in text and "chmod 600" in text
        assert_no_key_text(text, pem)
    else:
        assert warnings == []


# ---------------------------------------------------------------------------- key hygiene of the signer
@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_signer_repr_shows_only_a_masked_key_id(
    rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey, algorithm: str
) -> None:
    key = rsa_key if algorithm == "rsa" else ed_key
    signer = KalshiSigner(KEY_ID, key)
    for text in (repr(signer), str(signer), f"{signer}"):
        assert KEY_ID not in text
        assert "a952bcbe" in text
        assert "PRIVATE" not in text
        assert_no_key_text(text, pkcs8(key))
    assert not hasattr(signer, "__dict__")


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_signer_cannot_be_pickled(rsa_key: rsa.RSAPrivateKey, protocol: int) -> None:
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(KalshiSigner(KEY_ID, rsa_key), protocol=protocol)


def test_signer_cannot_be_copied(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = KalshiSigner(KEY_ID, rsa_key)
    with pytest.raises(TypeError):
        copy.deepcopy(signer)
    with pytest.raises(TypeError):
        copy.copy(signer)


# ---------------------------------------------------------------------------- from settings
def test_signer_from_settings_pem_text(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    pem = pkcs8(rsa_key).decode()
    settings = Settings.from_env(
        environ={"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY": pem}, env_file=tmp_path / "none.env"
    )
    signer = KalshiSigner.from_settings(settings)
    assert signer.key_id == KEY_ID
    h = signer.headers("GET", "/trade-api/ws/v2", timestamp_ms=TS)
    rsa_key.public_key().verify(
        base64.b64decode(h["KALSHI-ACCESS-SIGNATURE"]), b"1703123456789GET/trade-api/ws/v2", PSS_DIGEST, hashes.SHA256()
    )


def test_signer_from_settings_key_file(ed_key: ed25519.Ed25519PrivateKey, tmp_path: Path) -> None:
    path = tmp_path / "ed.key"
    path.write_bytes(pkcs8(ed_key))
    path.chmod(0o600)
    settings = Settings.from_env(
        environ={"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY_PATH": str(path)}, env_file=tmp_path / "none.env"
    )
    signer = KalshiSigner.from_settings(settings)
    assert signer.algorithm == "ed25519"
    assert signer.public_key_pem() == public_key_pem(ed_key)


def test_signer_from_settings_pem_wins_over_path(
    rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey, tmp_path: Path
) -> None:
    path = tmp_path / "ed.key"
    path.write_bytes(pkcs8(ed_key))
    path.chmod(0o600)
    settings = Settings.from_env(
        environ={
            "KALSHI_API_KEY_ID": KEY_ID,
            "KALSHI_PRIVATE_KEY_PATH": str(path),
            "KALSHI_PRIVATE_KEY": pkcs8(rsa_key).decode(),
        },
        env_file=tmp_path / "none.env",
    )
    assert KalshiSigner.from_settings(settings).public_key_pem() == public_key_pem(rsa_key)


def test_signer_from_settings_without_credentials(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="KALSHI_API_KEY_ID"):
        KalshiSigner.from_settings(Settings.from_env(environ={}, env_file=tmp_path / "none.env"))
    with pytest.raises(CredentialsError, match="KALSHI_PRIVATE_KEY"):
        KalshiSigner.from_settings(Settings(api_key_id=KEY_ID))
