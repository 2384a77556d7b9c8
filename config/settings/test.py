"""Tests: fast hashing, fixed keys, tasks run in-process unless a test asks for the queue."""

import base64
import json
import os

from .base import *  # noqa: F403
from .base import VAR_DIR

# `manage.py check` opens the default database; on a fresh clone var/ does not exist yet.
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = "test-only-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only in tests
CIVICSTACK_KEYS = os.environ.get(
    "CIVICSTACK_KEYS",
    json.dumps(
        {
            "current": "1",
            "keys": {"1": base64.b64encode(b"k" * 32).decode()},
            "index_key": base64.b64encode(b"i" * 32).decode(),
        }
    ),
)


def _fixed_signing_keys() -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from core.signing import SigningKey, SigningKeyring, key_id_for, signing_keyring_to_json

    private = Ed25519PrivateKey.from_private_bytes(b"s" * 32)
    key_id = key_id_for(private.public_key())
    key = SigningKey(key_id, private.public_key(), private, "2026-01-01T00:00:00+00:00")
    return signing_keyring_to_json(SigningKeyring(current=key_id, keys={key_id: key}))


CIVICSTACK_SIGNING_KEYS = os.environ.get("CIVICSTACK_SIGNING_KEYS") or _fixed_signing_keys()
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
AXES_FAILURE_LIMIT = 3
LOGGING = {"version": 1, "disable_existing_loggers": False}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "registry_uploads": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
