"""Kalshi request signing: RSA-PSS (SHA-256, MGF1-SHA256, salt = digest length) or Ed25519.

The string to sign is ``timestamp_ms + METHOD + path`` where ``path`` is the full URL path including
``/trade-api/v2`` (or ``/trade-api/ws/v2`` for the WebSocket handshake) and excluding the query string. The result
goes in three headers: ``KALSHI-ACCESS-KEY``, ``KALSHI-ACCESS-TIMESTAMP``, ``KALSHI-ACCESS-SIGNATURE``.

Private keys load from a file or from PEM text (env). A key file that group or others can read triggers a warning.
No ``repr``, log line or exception produced here contains key material or the full key id.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from kalshikit.config import Settings, mask_key_id
from kalshikit.errors import CredentialsError

log = logging.getLogger(__name__)

HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_PSS_SIGN = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
# Verification accepts any salt length: some third-party clients sign with PSS.MAX_LENGTH and Kalshi accepts them.
_PSS_VERIFY = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)


def signing_path(url_or_path: str) -> str:
    """The path that is signed: the URL's path without scheme, host or query string."""
    if url_or_path.startswith(("http://", "https://", "ws://", "wss://")):
        return urlsplit(url_or_path).path
    return url_or_path.split("?", 1)[0]


def message_to_sign(timestamp_ms: int | str, method: str, path: str) -> bytes:
    return f"{timestamp_ms}{method.upper()}{signing_path(path)}".encode()


def load_private_key(pem: bytes | str, *, source: str = "key") -> PrivateKey:
    """Parse a PEM private key (PKCS#8 or traditional RSA). Errors never echo the key text."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise CredentialsError(
            f"the private key in {source} is encrypted with a password; export it without a password"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise CredentialsError(
            f"the private key in {source} is not a valid PEM private key; use the .key file Kalshi gave you "
            "when you created the API key (it starts with '-----BEGIN')"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise CredentialsError(f"the private key in {source} is {type(key).__name__}; Kalshi uses RSA or Ed25519")
    return key


def load_private_key_file(path: str | Path) -> PrivateKey:
    """Load a key file, warning when group or others can read it."""
    p = Path(path).expanduser()
    try:
        mode = p.stat().st_mode
        data = p.read_bytes()
    except FileNotFoundError:
        raise CredentialsError(
            f"private key file {str(p)!r} does not exist; set KALSHI_PRIVATE_KEY_PATH to the downloaded key file"
        ) from None
    except (IsADirectoryError, PermissionError) as exc:
        raise CredentialsError(f"private key file {str(p)!r} cannot be read ({type(exc).__name__})") from None
    if os.name == "posix" and mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning(
            "private key file %s is readable by group/others (mode %o); run: chmod 600 %s",
            p,
            stat.S_IMODE(mode),
            p,
        )
    return load_private_key(data, source=f"file {str(p)!r}")


def public_key_pem(key: PrivateKey) -> bytes:
    """The PEM of the public half, e.g. to register a key with the simulator."""
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM of a private key (used by the simulator to write a demo key file)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def generate_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def sign(key: PrivateKey, message: bytes) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.sign(message)
    else:
        raw = key.sign(message, _PSS_SIGN, hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def verify(public_key: PublicKey, message: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid signature of ``message`` (RSA-PSS with any salt, or Ed25519)."""
    try:
        raw = base64.b64decode(signature_b64, validate=True)
    except (ValueError, TypeError):
        return False
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(raw, message)
        else:
            public_key.verify(raw, message, _PSS_VERIFY, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def load_public_key(pem: bytes | str) -> PublicKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise CredentialsError("not a valid PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise CredentialsError(f"public key is {type(key).__name__}; expected RSA or Ed25519")
    return key


class KalshiSigner:
    """Holds an API key id and private key and produces the three ``KALSHI-ACCESS-*`` headers."""

    __slots__ = ("_clock_ms", "_key", "key_id")

    def __init__(self, key_id: str, key: PrivateKey, *, clock_ms: Callable[[], int] | None = None) -> None:
        if not key_id:
            raise CredentialsError("KALSHI_API_KEY_ID is empty; copy the key id shown next to your API key")
        self.key_id = key_id
        self._key = key
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)

    @classmethod
    def from_settings(cls, settings: Settings) -> KalshiSigner:
        """Build from settings: the PEM in KALSHI_PRIVATE_KEY wins over KALSHI_PRIVATE_KEY_PATH."""
        if not settings.api_key_id:
            raise CredentialsError("KALSHI_API_KEY_ID is not set")
        if settings.private_key_pem is not None:
            key = load_private_key(settings.private_key_pem.reveal(), source="KALSHI_PRIVATE_KEY")
        elif settings.private_key_path is not None:
            key = load_private_key_file(settings.private_key_path)
        else:
            raise CredentialsError("set KALSHI_PRIVATE_KEY_PATH (key file) or KALSHI_PRIVATE_KEY (PEM text)")
        return cls(settings.api_key_id, key)

    @property
    def algorithm(self) -> str:
        return "ed25519" if isinstance(self._key, ed25519.Ed25519PrivateKey) else "rsa-pss"

    def headers(self, method: str, url_or_path: str, *, timestamp_ms: int | None = None) -> dict[str, str]:
        """The signed headers for one request (``url_or_path`` may be a full URL; the query is ignored)."""
        ts = str(self._clock_ms() if timestamp_ms is None else timestamp_ms)
        return {
            HEADER_KEY: self.key_id,
            HEADER_TIMESTAMP: ts,
            HEADER_SIGNATURE: sign(self._key, message_to_sign(ts, method, url_or_path)),
        }

    def public_key_pem(self) -> bytes:
        return public_key_pem(self._key)

    def __repr__(self) -> str:
        return f"KalshiSigner(key_id={mask_key_id(self.key_id)!r}, algorithm={self.algorithm!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("KalshiSigner holds a private key and cannot be pickled")
