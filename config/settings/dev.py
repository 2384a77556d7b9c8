"""Development and `make demo`: DEBUG on, a local key file created on first use."""

import os

os.environ.setdefault("DEBUG", "1")

from .base import *  # noqa: F403
from .base import VAR_DIR

VAR_DIR.mkdir(parents=True, exist_ok=True)
SECRET_KEY = SECRET_KEY or "dev-only-insecure-key-do-not-deploy"  # noqa: F405
CIVICSTACK_CREATE_KEY_FILE = True
CIVICSTACK_SITE_URL = CIVICSTACK_SITE_URL or "http://localhost:8000"  # noqa: F405 (make demo)
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
