"""The platform's signatures: Ed25519 over canonical bytes, under rotatable keys.

Consent records and the exchange's message log are signed by the platform. A signature
names its key (``key_id``: the first 16 hex digits of the SHA-256 of the public key), so
keys can be rotated (``manage.py rotate_signing_key``) while old signatures still verify:
retired keys keep their public half (their private half may be deleted). Verification
needs only public keys, so an auditor can check a log offline with the public key file
(``manage.py rotate_signing_key --export-public``).

Keys come from ``settings.CIVICSTACK_SIGNING_KEYS`` (JSON, normally from the environment)
or the key file ``settings.CIVICSTACK_SIGNING_KEY_FILE``, created on first use where
``CIVICSTACK_CREATE_KEY_FILE`` is set (development)::

    {"current": "<key id>",
     "keys": {"<key id>": {"public": "<base64>", "private": "<base64 or null>",
                            "created": "2026-11-29T12:00:00+00:00"}}}
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from nacl.signing import SigningKey as SodiumSigningKey

ALGORITHM = "Ed25519"


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None = field(repr=False)
    created: str


@dataclass(frozen=True)
class SigningKeyring:
    current: str
    keys: Mapping[str, SigningKey]

    def signer(self) -> SigningKey:
        return self.keys[self.current]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _raw_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def key_id_for(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw_public(public)).hexdigest()[:16]


def _b64d(value: Any, *, what: str) -> bytes:
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"signing {what} must be a base64 string")
    try:
        raw = base64.b64decode(value.encode(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(f"signing {what} is not valid base64") from exc
    if len(raw) != 32:
        raise ImproperlyConfigured(f"signing {what} must be 32 bytes")
    return raw


def parse_signing_keyring(
    data: str | Mapping[str, Any], *, where: str, verify_only: bool = False
) -> SigningKeyring:
    """Validate key material; messages never contain the keys.

    ``verify_only`` accepts a public export (no private halves): enough to verify."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ImproperlyConfigured(f"{where} is not valid JSON: {exc.msg}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), Mapping):
        raise ImproperlyConfigured(f'{where} needs "keys": {{"<key id>": {{...}}}}')
    keys: dict[str, SigningKey] = {}
    for key_id, entry in data["keys"].items():
        if not isinstance(entry, Mapping):
            raise ImproperlyConfigured(f"{where}: key {key_id!r} must be an object")
        public = Ed25519PublicKey.from_public_bytes(_b64d(entry.get("public"), what="public key"))
        if key_id_for(public) != key_id:
            raise ImproperlyConfigured(f"{where}: key {key_id!r} does not match its public key")
        private = None
        if entry.get("private"):
            private = Ed25519PrivateKey.from_private_bytes(
                _b64d(entry["private"], what="private key")
            )
            if _raw_public(private.public_key()) != _raw_public(public):
                raise ImproperlyConfigured(f"{where}: key {key_id!r} halves do not belong together")
        keys[str(key_id)] = SigningKey(str(key_id), public, private, str(entry.get("created", "")))
    current = str(data.get("current", ""))
    if verify_only and keys:
        return SigningKeyring(current=current if current in keys else next(iter(keys)), keys=keys)
    if current not in keys or keys[current].private is None:
        raise ImproperlyConfigured(f'{where}: "current" must name a key with its private half')
    return SigningKeyring(current=current, keys=keys)


def signing_keyring_to_json(keyring: SigningKeyring, *, public_only: bool = False) -> str:
    keys = {}
    for key_id, key in keyring.keys.items():
        private = None
        if key.private is not None and not public_only:
            private = base64.b64encode(_raw_private(key.private)).decode()
        keys[key_id] = {
            "public": base64.b64encode(_raw_public(key.public)).decode(),
            "private": private,
            "created": key.created,
        }
    return json.dumps({"current": keyring.current, "keys": keys}, indent=2)


def _new_key() -> SigningKey:
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    return SigningKey(key_id_for(public), public, private, datetime.now(UTC).isoformat())


def generate_signing_keyring() -> SigningKeyring:
    key = _new_key()
    return SigningKeyring(current=key.key_id, keys={key.key_id: key})


def with_new_signing_key(keyring: SigningKeyring) -> SigningKeyring:
    """A fresh key becomes current; older keys stay to verify what they signed."""
    key = _new_key()
    return SigningKeyring(current=key.key_id, keys={**keyring.keys, key.key_id: key})


def write_signing_key_file(keyring: SigningKeyring, path: Path, *, replace: bool) -> bool:
    """Owner-only, atomic; with ``replace=False`` an existing file wins (returns False)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(signing_keyring_to_json(keyring) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def load_signing_keyring() -> SigningKeyring:
    if settings.CIVICSTACK_SIGNING_KEYS:
        return parse_signing_keyring(
            settings.CIVICSTACK_SIGNING_KEYS, where="CIVICSTACK_SIGNING_KEYS"
        )
    path = Path(settings.CIVICSTACK_SIGNING_KEY_FILE)
    if not path.exists() and settings.CIVICSTACK_CREATE_KEY_FILE:
        write_signing_key_file(generate_signing_keyring(), path, replace=False)
    if not path.exists():
        raise ImproperlyConfigured(
            "No signing keys are configured. Set CIVICSTACK_SIGNING_KEYS, or "
            f"CIVICSTACK_SIGNING_KEY_FILE (expected at {path}); "
            "`manage.py rotate_signing_key` creates one."
        )
    return parse_signing_keyring(path.read_text(encoding="utf-8"), where=f"the key file {path}")


_lock = threading.Lock()
_keyring: SigningKeyring | None = None


def get_signing_keyring() -> SigningKeyring:
    global _keyring
    keyring = _keyring
    if keyring is None:
        with _lock:
            if _keyring is None:
                _keyring = load_signing_keyring()
            keyring = _keyring
    return keyring


def reset_signing_keyring() -> None:
    global _keyring
    with _lock:
        _keyring = None


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# Signing goes through libsodium: Ed25519 signatures are deterministic (RFC 8032), so it
# gives the very bytes OpenSSL gives for the same key and message, in about two thirds of
# the time (OpenSSL 3 sets up a context for every signature); the message log signs every
# entry under its write lock. Keys are held and checked, and signatures verified, with
# `cryptography` as before. One signer per key, built from the key's private half.
_sodium: dict[str, SodiumSigningKey] = {}


def _sodium_signer(key: SigningKey) -> SodiumSigningKey:
    signer = _sodium.get(key.key_id)
    if signer is None:
        assert key.private is not None
        signer = SodiumSigningKey(_raw_private(key.private))
        with _lock:
            _sodium[key.key_id] = signer
    return signer


def sign(message: bytes) -> tuple[str, str]:
    """Sign with the current key: (key id, signature as unpadded base64url)."""
    key = get_signing_keyring().signer()
    assert key.private is not None  # parse_signing_keyring guarantees it for the current key
    return key.key_id, _b64e(_sodium_signer(key).sign(message).signature)


def verify(
    message: bytes, *, key_id: str, signature: str, keyring: SigningKeyring | None = None
) -> bool:
    """Whether ``signature`` is ``key_id``'s signature of ``message``; unknown keys fail."""
    ring = keyring or get_signing_keyring()
    key = ring.keys.get(key_id)
    if key is None:
        return False
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        key.public.verify(raw, message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Seal:
    """A payload frozen as canonical JSON, its SHA-256 and the platform's signature of it."""

    snapshot: str
    hash: str
    key_id: str
    signature: str


# `json.dumps` with options builds an encoder at every call; this one is built once.
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical_text(value: Any) -> str:
    """Sorted keys, no spaces: the same value always gives the same text."""
    return _canonical(value)


def canonical_bytes(payload: Mapping[str, Any]) -> bytes:
    """`canonical_text` in UTF-8: the same payload always gives the same bytes."""
    return canonical_text(payload).encode()


def seal(payload: Mapping[str, Any]) -> Seal:
    raw = canonical_bytes(payload)
    digest = hashlib.sha256(raw).hexdigest()
    key_id, signature = sign(digest.encode("ascii"))
    return Seal(raw.decode(), digest, key_id, signature)


def seal_intact(
    snapshot: str,
    *,
    hash: str,
    key_id: str,
    signature: str,
    keyring: SigningKeyring | None = None,
) -> str:
    """Empty when the snapshot hashes to ``hash`` and ``signature`` signs it; else why not."""
    if hashlib.sha256(snapshot.encode()).hexdigest() != hash:
        return "the content does not match its hash"
    if not verify(hash.encode("ascii"), key_id=key_id, signature=signature, keyring=keyring):
        return (
            "the signature does not verify"
            if key_id in (keyring or get_signing_keyring()).keys
            else f"unknown signing key {key_id}"
        )
    return ""
