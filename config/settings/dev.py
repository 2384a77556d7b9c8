"""Development and `make demo`: DEBUG on, a local key file created on first use."""

import os

os.environ.setdefault("DEBUG", "1")

from .base import *  # noqa: F403
from .base import VAR_DIR

VAR_DIR.mkdir(parents=True, exist_ok=True)
SECRET_KEY = SECRET_KEY or "dev-only-insecure-key-do-not-deploy"  # noqa: F405
CIVICSTACK_CREATE_KEY_FILE = True
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
