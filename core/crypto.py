"""Field-level encryption of identifiers, and blind indexes to find them again.

Values are sealed with AES-256-GCM under a versioned key; a token names its key version,
so keys can be rotated (``manage.py rotate_keys``) while old values stay readable. The
``context`` (e.g. ``"identity.user.national_id"``) is bound as associated data: a token
copied into another column or table does not decrypt there.

Equality lookups use a blind index: HMAC-SHA256 of the normalised value under a separate
index key, which does not rotate (see docs/adr/0004-field-encryption.md).

Keys come from ``settings.CIVICSTACK_KEYS`` (JSON, normally from the environment) or the
JSON key file at ``settings.CIVICSTACK_KEY_FILE``; in development
(``CIVICSTACK_CREATE_KEY_FILE``) the key file is created with fresh keys on first use::

    {"current": "2", "keys": {"1": "<base64 32 bytes>", "2": "..."},
     "index_key": "<base64 32 bytes>"}

Failures are plain exceptions, not ``ApplicationError``: a value that does not decrypt is
an integrity or configuration fault to log and answer with a 500, never the caller's
input error.
"""

import base64
import binascii
import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import secrets
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

TOKEN_FORMAT = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_IDENTIFIER_NOISE = re.compile(r"[\s\-\u2010-\u2015\u2212]+")

KeySource = Literal["environment", "file"]
Normaliser = Callable[[str], str]


class CryptoError(Exception):
    """Base of the errors raised when a protected value cannot be handled."""


class DecryptionError(CryptoError):
    """A token is malformed, was made with a key we do not hold, or was tampered with."""


@dataclass(frozen=True)
class Keyring:
    current: str
    keys: Mapping[str, bytes] = field(repr=False)  # keep keys out of logs and tracebacks
    index_key: bytes = field(repr=False)
    source: KeySource
    path: Path | None = None

    def key(self, version: str) -> bytes | None:
        return self.keys.get(version)


def normalise_identifier(value: str) -> str:
    """``"ab 12-34"`` and ``"AB1234"`` are the same identifier."""
    return _IDENTIFIER_NOISE.sub("", unicodedata.normalize("NFKC", value)).upper()


# --- keys -------------------------------------------------------------------------------


def _decode_key(value: object, *, what: str) -> bytes:
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"Field-encryption {what} must be a base64 string.")
    try:
        raw = base64.b64decode(value.encode(), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(f"Field-encryption {what} is not valid base64.") from exc
    if len(raw) != KEY_BYTES:
        raise ImproperlyConfigured(
            f"Field-encryption {what} must be {KEY_BYTES} bytes, base64-encoded "
            f"(got {len(raw)} bytes)."
        )
    return raw


def parse_keyring(
    data: str | Mapping[str, Any], *, source: KeySource, path: Path | None = None
) -> Keyring:
    """Validate key material; error messages never contain the keys themselves."""
    where = "CIVICSTACK_KEYS" if source == "environment" else f"the key file {path}"
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ImproperlyConfigured(f"{where} is not valid JSON: {exc.msg}.") from None
    if not isinstance(data, Mapping):
        raise ImproperlyConfigured(f"{where} must hold a JSON object.")
    keys = data.get("keys")
    if not isinstance(keys, Mapping) or not keys:
        raise ImproperlyConfigured(f'{where} needs "keys": {{"<version>": "<base64 key>"}}.')
    decoded: dict[str, bytes] = {}
    for version, value in keys.items():
        if not _KEY_ID.match(str(version)):
            raise ImproperlyConfigured(
                f"{where}: key version {version!r} must be 1-32 letters, digits, '-' or '_'."
            )
        decoded[str(version)] = _decode_key(value, what=f"key {version!r} in {where}")
    current = str(data.get("current", ""))
    if current not in decoded:
        raise ImproperlyConfigured(f'{where}: "current" must name one of the keys.')
    index_key = _decode_key(data.get("index_key"), what=f'"index_key" in {where}')
    if index_key in decoded.values():
        raise ImproperlyConfigured(f"{where}: the index key must differ from the encryption keys.")
    return Keyring(current=current, keys=decoded, index_key=index_key, source=source, path=path)


def keyring_to_json(keyring: Keyring) -> str:
    """The JSON form of a keyring, for the key file or the environment."""
    return json.dumps(
        {
            "current": keyring.current,
            "keys": {v: base64.b64encode(k).decode() for v, k in keyring.keys.items()},
            "index_key": base64.b64encode(keyring.index_key).decode(),
        },
        indent=2,
    )


def generate_keyring(*, source: KeySource = "file", path: Path | None = None) -> Keyring:
    return Keyring(
        current="1",
        keys={"1": secrets.token_bytes(KEY_BYTES)},
        index_key=secrets.token_bytes(KEY_BYTES),
        source=source,
        path=path,
    )


def with_new_key(keyring: Keyring) -> Keyring:
    """The keyring plus a fresh key, made current. Old keys stay to read old values."""
    numbers = [int(v) for v in keyring.keys if v.isdigit()]
    version = str(max(numbers, default=0) + 1)
    while version in keyring.keys:  # only when someone chose odd names
        version = str(int(version) + 1)
    return Keyring(
        current=version,
        keys={**keyring.keys, version: secrets.token_bytes(KEY_BYTES)},
        index_key=keyring.index_key,
        source=keyring.source,
        path=keyring.path,
    )


def write_key_file(keyring: Keyring, path: Path, *, replace: bool) -> bool:
    """Write the key file readable by its owner only, atomically.

    With ``replace=False`` an existing file wins (returns False): the web process and the
    worker may both start at once, and two different key files would lose data.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(keyring_to_json(keyring) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # atomic "create if absent", never a half-written file
        except FileExistsError:
            return False
        except OSError:
            # No hard links on this file system: exclusive create is still "first wins".
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(keyring_to_json(keyring) + "\n")
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def read_key_file(path: Path) -> Keyring:
    mode = path.stat().st_mode
    if mode & 0o077:
        logger.warning(
            "The key file %s can be read by other users; chmod 600 it.",
            path,
            extra={"key_file": str(path)},
        )
    return parse_keyring(path.read_text(encoding="utf-8"), source="file", path=path)


def load_keyring() -> Keyring:
    """Read the configured keys (uncached); see ``get_keyring``."""
    if settings.CIVICSTACK_KEYS:
        return parse_keyring(settings.CIVICSTACK_KEYS, source="environment")
    path = Path(settings.CIVICSTACK_KEY_FILE)
    if path.exists():
        return read_key_file(path)
    if settings.CIVICSTACK_CREATE_KEY_FILE:
        if write_key_file(generate_keyring(path=path), path, replace=False):
            logger.warning("Created a new field-encryption key file at %s.", path)
        return read_key_file(path)
    raise ImproperlyConfigured(
        "No field-encryption keys are configured. Set CIVICSTACK_KEYS to the keys' JSON, or "
        f"CIVICSTACK_KEY_FILE to a key file (expected at {path}); "
        "`manage.py rotate_keys --generate` creates one. "
        "See docs/adr/0004-field-encryption.md."
    )


_lock = threading.Lock()
_keyring: Keyring | None = None


def get_keyring() -> Keyring:
    """The keys, read once per process."""
    global _keyring
    keyring = _keyring
    if keyring is None:
        with _lock:
            if _keyring is None:
                _keyring = load_keyring()
            keyring = _keyring
    return keyring


def reset_keyring() -> None:
    """Forget the cached keys; the next use reads them again (tests, after rotation)."""
    global _keyring
    with _lock:
        _keyring = None


# --- encryption -------------------------------------------------------------------------


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_version(token: str) -> str:
    """The key version a token was sealed with, without decrypting it."""
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != TOKEN_FORMAT or not _KEY_ID.match(parts[1]):
        raise DecryptionError("The stored value is not an encrypted token.")
    return parts[1]


def token_prefix(version: str) -> str:
    """Every token sealed under ``version`` starts with this."""
    return f"{TOKEN_FORMAT}:{version}:"


def encrypt(plaintext: str, *, context: str) -> str:
    """Seal ``plaintext`` under the current key: ``v1:<version>:<base64url(nonce|ct)>``."""
    keyring = get_keyring()
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = _aead(keyring.keys[keyring.current]).encrypt(
        nonce, plaintext.encode("utf-8"), context.encode("utf-8")
    )
    return token_prefix(keyring.current) + _b64e(nonce + sealed)


@functools.lru_cache(maxsize=8)
def _aead(key: bytes) -> AESGCM:
    """The cipher for a key, made once: a bulk load seals a value per record."""
    return AESGCM(key)


def decrypt(token: str, *, context: str) -> str:
    """Open a token made by ``encrypt`` with the same ``context``."""
    version = token_version(token)
    key = get_keyring().key(version)
    if key is None and get_keyring().source == "file":
        # Another process may have added a key (rotate_keys --generate): read the file again.
        reset_keyring()
        key = get_keyring().key(version)
    if key is None:
        raise DecryptionError(f"No key with version {version!r} is configured.")
    try:
        raw = _b64d(token.split(":", 2)[2])
    except (binascii.Error, ValueError):
        raise DecryptionError("The stored value is not an encrypted token.") from None
    if len(raw) < NONCE_BYTES + 16:
        raise DecryptionError("The stored value is not an encrypted token.")
    try:
        plain = _aead(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
    except InvalidTag:
        raise DecryptionError(
            f"A value for {context} failed authentication: it was altered, copied from "
            "another field, or sealed with a different key."
        ) from None
    return plain.decode("utf-8")


_SHA256_BLOCK = 64


@functools.lru_cache(maxsize=64)
def _index_hashes(key: bytes, context: str) -> tuple[Any, Any]:
    """HMAC-SHA256 under ``key`` (RFC 2104) as its inner and outer SHA-256 states, with the
    context already fed to the inner one.

    Copying two hashlib states costs less than half of copying an ``hmac.HMAC`` (a Python
    object around the C one), and a bulk load makes a dozen indexes per record. The digest
    is the same, byte for byte, as ``hmac.new(key, message, "sha256")``.
    """
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_SHA256_BLOCK, b"\x00")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    inner.update(context.encode("utf-8") + b"\x00")
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
    return inner, outer


def blind_index(value: str, *, context: str, normaliser: Normaliser = normalise_identifier) -> str:
    """HMAC-SHA256 (hex) of the normalised value: equal identifiers, equal index.

    The message is ``context + NUL + normalised value``.
    """
    inner, outer = _index_hashes(get_keyring().index_key, context)
    digest = inner.copy()
    digest.update(normaliser(value).encode("utf-8"))
    mac = outer.copy()
    mac.update(digest.digest())
    return mac.hexdigest()


def blind_indexes(
    values: Iterable[str], *, context: str, normaliser: Normaliser = normalise_identifier
) -> list[str]:
    """``blind_index`` of each value, in order (one key look-up for them all)."""
    inner, outer = _index_hashes(get_keyring().index_key, context)
    indexes = []
    for value in values:
        digest = inner.copy()
        digest.update(normaliser(value).encode("utf-8"))
        mac = outer.copy()
        mac.update(digest.digest())
        indexes.append(mac.hexdigest())
    return indexes
