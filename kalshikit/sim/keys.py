"""API keys the simulator accepts, signature checks of the three ``KALSHI-ACCESS-*`` headers, and the demo key.

A request is authentic when its key id is registered, its millisecond timestamp is within ``skew_s`` of the
simulator's clock, and the signature verifies (:func:`kalshikit.kalshi.auth.verify`) over ``timestamp + METHOD +
path`` where the path is the raw request path without the query (``/trade-api/v2/portfolio/balance``). Failures
say exactly what to fix, never echo key material, and show only a masked key id.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from kalshikit.config import mask_key_id
from kalshikit.kalshi.auth import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PrivateKey,
    PublicKey,
    generate_rsa_key,
    load_private_key_file,
    load_public_key,
    message_to_sign,
    private_key_pem,
    public_key_pem,
    verify,
)


class AuthFailure(Exception):
    """The request is not authentic; the message says why (safe to send back to the client)."""


@dataclass(frozen=True)
class KeyEntry:
    key_id: str
    public_key: PublicKey
    account: str


@dataclass(frozen=True)
class DemoKey:
    """The simulator's own key pair: the id may be shown in full; the private key lives only in the file."""

    key_id: str
    private_key_path: Path
    public_key_pem: bytes


class KeyRegistry:
    """Registered keys (thread-safe) and the verification of signed requests."""

    def __init__(self, skew_s: float = 60.0, clock_ms: Callable[[], int] | None = None) -> None:
        self.skew_ms = int(skew_s * 1000)
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._keys: dict[str, KeyEntry] = {}
        self._lock = threading.Lock()

    def add(self, key_id: str, public_key: bytes | str | PublicKey, account: str = "default") -> KeyEntry:
        if not key_id:
            raise ValueError("key_id must not be empty")
        key = load_public_key(public_key) if isinstance(public_key, bytes | str) else public_key
        entry = KeyEntry(key_id, key, account)
        with self._lock:
            self._keys[key_id] = entry
        return entry

    def remove(self, key_id: str) -> None:
        with self._lock:
            self._keys.pop(key_id, None)

    def get(self, key_id: str) -> KeyEntry | None:
        return self._keys.get(key_id)

    def __len__(self) -> int:
        return len(self._keys)

    def verify_headers(self, method: str, path: str, headers: Mapping[str, str]) -> KeyEntry:
        """The key of an authentic request; raises :class:`AuthFailure` saying what is wrong."""
        key_id = headers.get(HEADER_KEY)
        ts = headers.get(HEADER_TIMESTAMP)
        sig = headers.get(HEADER_SIGNATURE)
        missing = [h for h, v in ((HEADER_KEY, key_id), (HEADER_TIMESTAMP, ts), (HEADER_SIGNATURE, sig)) if not v]
        if missing:
            raise AuthFailure(
                f"missing header(s) {', '.join(missing)}; signed requests need {HEADER_KEY}, {HEADER_TIMESTAMP} "
                f"and {HEADER_SIGNATURE}"
            )
        assert key_id is not None and ts is not None and sig is not None
        entry = self._keys.get(key_id)
        if entry is None:
            raise AuthFailure(f"unknown API key id {mask_key_id(key_id)}; register the key with the simulator")
        if not ts.isdigit():
            raise AuthFailure(f"{HEADER_TIMESTAMP} must be Unix time in milliseconds (digits only), got {ts[:20]!r}")
        off = int(ts) - self._clock_ms()
        if abs(off) > self.skew_ms:
            raise AuthFailure(
                f"{HEADER_TIMESTAMP} is {off / 1000:+.1f} s from the server clock (allowed ±{self.skew_ms / 1000:g} "
                "s); check the clock and that the timestamp is in milliseconds"
            )
        if not verify(entry.public_key, message_to_sign(ts, method, path), sig):
            raise AuthFailure(
                f"{HEADER_SIGNATURE} does not verify for key {mask_key_id(key_id)}: sign timestamp + "
                f"{method.upper()} + {path} (the path with /trade-api/..., without the query) with RSA-PSS SHA-256 "
                "or Ed25519, base64-encoded"
            )
        return entry


def create_demo_key(
    state_dir: str | os.PathLike[str] | None = None, algorithm: str = "rsa", name: str | None = None
) -> DemoKey:
    """Generate a key pair (``rsa`` or ``ed25519``) and write the private key (mode 600) to ``state_dir``.

    ``state_dir`` defaults to a new temp dir; the file is ``<name>.key`` (default ``sim-demo-<id prefix>.key``).
    """
    if algorithm not in ("rsa", "ed25519"):
        raise ValueError(f"algorithm must be rsa or ed25519, got {algorithm!r}")
    directory = Path(state_dir) if state_dir is not None else Path(tempfile.mkdtemp(prefix="kalshikit-sim-"))
    directory.mkdir(parents=True, exist_ok=True)
    key: PrivateKey = generate_rsa_key() if algorithm == "rsa" else ed25519.Ed25519PrivateKey.generate()
    key_id = str(uuid.uuid4())
    path = directory / f"{name or 'sim-demo-' + key_id[:8]}.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, private_key_pem(key))
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
    return DemoKey(key_id, path, public_key_pem(key))


DEMO_KEY_NAME = "sim-demo"


def demo_key(state_dir: str | os.PathLike[str] | None = None) -> DemoKey:
    """The simulator's demo key: reused from ``state_dir`` when an earlier run left one there, else made anew.

    Without ``state_dir`` every run gets a new key in a new temp dir. With it, the key (``sim-demo.key``, mode 600)
    and its id (``sim-demo.key_id``) stay the same across runs, so a ``.env`` written once keeps working.
    """
    if state_dir is None:
        return create_demo_key(None)
    directory = Path(state_dir)
    key_path = directory / f"{DEMO_KEY_NAME}.key"
    id_path = directory / f"{DEMO_KEY_NAME}.key_id"
    if key_path.is_file() and id_path.is_file():
        key_id = id_path.read_text().strip()
        if key_id:
            return DemoKey(key_id, key_path, public_key_pem(load_private_key_file(key_path)))
    key = create_demo_key(directory, name=DEMO_KEY_NAME)
    id_path.write_text(key.key_id + "\n")
    return key
