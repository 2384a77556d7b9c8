"""CivicStack settings: one environment-driven base; dev and test adjust a few defaults.

Everything a deployment changes comes from the environment (see docs/operations.md):
DATABASE_URL, SECRET_KEY, ALLOWED_HOSTS, CIVICSTACK_KEYS / CIVICSTACK_KEY_FILE, ...
The embedded defaults (SQLite, the database task queue) need no running services.
"""

import os
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("CIVICSTACK_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "django_tasks_db",
    "ninja",
    # CivicStack, lowest layer first.
    "core",
    "identity",
    "registry",
    "registries",
    "consent",
    "exchange",
    "decisions",
    "cases",
    "portal",
    "workspace",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.RequestIdMiddleware",
    "core.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Axes must be last: it turns lockouts into responses.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "identity.navigation.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'civicstack.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE avoids
    # lock upgrades failing mid-transaction. A checkpoint (which syncs to disk) every
    # 10,000 WAL pages (~40 MB) instead of SQLite's 1,000: a case writes ~25 pages, and
    # with the default one commit in 40 waited 5-30 ms for a checkpoint (bench-cases).
    # core.db.sqlite moves checkpoints out of the writers' lock where it queues writers.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=10000;"
        ),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Django's SQLite backend, with write transactions queued by an OS file lock
    # (core/db/sqlite/base.py): a waiting writer wakes at once instead of polling.
    DATABASES["default"]["ENGINE"] = "core.db.sqlite"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "identity.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "identity:login"
LOGIN_REDIRECT_URL = "identity:home"
LOGOUT_REDIRECT_URL = "identity:login"

# Lockout: five failures for one username from one address locks it for 30 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.5"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "identity/locked_out.html"
AXES_VERBOSE = False

OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "CivicStack")

# Sessions and CSRF: cookies only over HTTPS outside development, never readable by script.
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(60 * 60)))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_SAVE_EVERY_REQUEST = True  # idle timeout rather than absolute

# Security headers.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Processes that prepare a large feed file's rows for `manage.py ingest` (0: none; pays only
# with cores to spare, see registry.services.feeds.ingest_workers).
REGISTRY_INGEST_WORKERS = int(os.environ.get("REGISTRY_INGEST_WORKERS", "0"))
# The most memory DuckDB may take in a link run or training ("2GB"; empty: DuckDB's own
# default, 80% of the machine's memory). Past it DuckDB spills to a temporary directory.
REGISTRY_LINKAGE_DUCKDB_MEMORY = os.environ.get("REGISTRY_LINKAGE_DUCKDB_MEMORY", "")
# SMS notifications (docs/operations.md, "Notifications: e-mail and SMS"): logged by default.
CIVICSTACK_SMS_BACKEND = os.environ.get("CIVICSTACK_SMS_BACKEND", "core.sms.LoggingSmsBackend")
CIVICSTACK_SMS_URL = os.environ.get("CIVICSTACK_SMS_URL", "")
CIVICSTACK_SMS_TOKEN = os.environ.get("CIVICSTACK_SMS_TOKEN", "")
# Where citizens reach this deployment (for example https://services.gov.example): links in
# e-mails and text messages point there. Empty: messages carry no link.
CIVICSTACK_SITE_URL = os.environ.get("CIVICSTACK_SITE_URL", "").rstrip("/")

# Files people upload (application documents): outside the code, beside the database.
MEDIA_ROOT = Path(os.environ.get("CIVICSTACK_MEDIA_ROOT", VAR_DIR / "media"))
# The design system and htmx come from npm (package.json; `make install` runs npm ci and
# compiles frontend/civicstack.scss into frontend/build/). Nothing third-party is committed.
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "frontend" / "build",
    ("js", BASE_DIR / "frontend" / "js"),
    ("govuk", NODE_MODULES / "govuk-frontend" / "dist" / "govuk"),
    ("htmx", NODE_MODULES / "htmx.org" / "dist"),
]

# Background work: Django's tasks framework on the database (no broker needed).
TASKS = {
    "default": {
        "BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}
CIVICSTACK_TASK_MAX_ATTEMPTS = int(os.environ.get("TASK_MAX_ATTEMPTS", "5"))
CIVICSTACK_TASK_BACKOFF_SECONDS = float(os.environ.get("TASK_BACKOFF_SECONDS", "5"))
# /healthz reports the worker unhealthy when tasks wait longer than this.
CIVICSTACK_WORKER_STALE_SECONDS = int(os.environ.get("WORKER_STALE_SECONDS", "300"))

# Field encryption keys: CIVICSTACK_KEYS (JSON) or a key file (created on first use in dev).
CIVICSTACK_KEYS = os.environ.get("CIVICSTACK_KEYS", "")
CIVICSTACK_KEY_FILE = Path(os.environ.get("CIVICSTACK_KEY_FILE", VAR_DIR / "keys.json"))
CIVICSTACK_CREATE_KEY_FILE = env_bool("CIVICSTACK_CREATE_KEY_FILE", False)
# Ed25519 keys that sign consent records and the exchange's message log (core.signing).
CIVICSTACK_SIGNING_KEYS = os.environ.get("CIVICSTACK_SIGNING_KEYS", "")
CIVICSTACK_SIGNING_KEY_FILE = Path(
    os.environ.get("CIVICSTACK_SIGNING_KEY_FILE", VAR_DIR / "signing-keys.json")
)

API_TOKEN_DEFAULT_DAYS = int(os.environ.get("API_TOKEN_DEFAULT_DAYS", "90"))

# The master person index (registry): national phone numbers are read in this region;
# golden records follow the survivorship rules of this file (default: the shipped one).
REGISTRY_PHONE_REGION = os.environ.get("REGISTRY_PHONE_REGION", "GB")
REGISTRY_SURVIVORSHIP_FILE = os.environ.get("REGISTRY_SURVIVORSHIP_FILE", "")
# Event outbox (exchange.events.delivery). The lease must outlast two batches' sending:
# 2 * ceil(batch / concurrency) * timeout + 5 s.
CIVICSTACK_EVENT_BATCH = int(os.environ.get("EVENT_BATCH", "50"))
CIVICSTACK_EVENT_CONCURRENCY = int(os.environ.get("EVENT_CONCURRENCY", "10"))
CIVICSTACK_EVENT_TIMEOUT_SECONDS = float(os.environ.get("EVENT_TIMEOUT_SECONDS", "5"))
CIVICSTACK_EVENT_LEASE_SECONDS = float(os.environ.get("EVENT_LEASE_SECONDS", "60"))
CIVICSTACK_EVENT_BACKOFF_SECONDS = float(os.environ.get("EVENT_BACKOFF_SECONDS", "10"))
CIVICSTACK_EVENT_BACKOFF_CAP_SECONDS = float(os.environ.get("EVENT_BACKOFF_CAP_SECONDS", "3600"))
# Only behind an X-Road style security server that authenticates calling systems itself.
GOVSTACK_TRUST_IM_HEADER = env_bool("GOVSTACK_TRUST_IM_HEADER", False)
# The X-Road style instance this deployment is (the first part of every member id).
GOVSTACK_INSTANCE = os.environ.get("GOVSTACK_INSTANCE", "CIVICSTACK")

MAILERS = {
    "default": {
        "BACKEND": os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"),
        "OPTIONS": {
            "host": os.environ.get("EMAIL_HOST", "localhost"),
            "port": int(os.environ.get("EMAIL_PORT", "25")),
            "use_tls": env_bool("EMAIL_USE_TLS", False),
            "username": os.environ.get("EMAIL_USER", ""),
            "password": os.environ.get("EMAIL_PASSWORD", ""),
            "timeout": 10,
        },
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "no-reply@civicstack.invalid")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "core.logging.JsonFormatter",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own handlers print plain text; without them each django.* line goes
        # once, as JSON, through the root handler. The access line replaces runserver's.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "ERROR", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}
