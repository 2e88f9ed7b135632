"""Clearcue settings: one environment-driven module.

With no environment at all the project runs embedded: SQLite under CLEARCUE_DATA_DIR, media on the local
filesystem, Celery tasks executed in-process. DATABASE_URL switches to PostgreSQL, CELERY_BROKER_URL to
real workers (Redis or RabbitMQ), CLEARCUE_STORAGE=s3 to an S3-compatible object store. Malformed values
stop startup with an error naming the variable; secrets may be given as `<NAME>_FILE`.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from clearcue.env import Env

env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.str("CLEARCUE_DATA_DIR", str(BASE_DIR / "var")) or "").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """DJANGO_SECRET_KEY(_FILE) if given, else a random key persisted in the data directory."""
    configured = env.str("DJANGO_SECRET_KEY")
    if configured is not None:
        if len(configured) < 32:
            raise ImproperlyConfigured("DJANGO_SECRET_KEY: must be at least 32 characters long")
        return configured
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_urlsafe(50), encoding="utf-8")
    return key_file.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()
DEBUG = env.bool("CLEARCUE_DEBUG", False)
ALLOWED_HOSTS = env.list("CLEARCUE_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CLEARCUE_CSRF_TRUSTED_ORIGINS", [])
CLEARCUE_PUBLIC_URL = (env.str("CLEARCUE_PUBLIC_URL", "http://127.0.0.1:8000") or "").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",
    "clearcue",
    "licensing",
    "generation",
    "provenance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "clearcue.middleware.RequestIdMiddleware",
]

ROOT_URLCONF = "clearcue.urls"
WSGI_APPLICATION = "clearcue.wsgi.application"
ASGI_APPLICATION = "clearcue.asgi.application"
AUTH_USER_MODEL = "clearcue.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "clearcue" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASE_URL = env.url("DATABASE_URL", ("postgres", "postgresql", "pgsql", "sqlite"))
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env.int("CLEARCUE_DB_CONN_MAX_AGE", 60, minimum=0))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from exc
    if _db["ENGINE"] == "django.db.backends.postgresql":
        _db.setdefault("OPTIONS", {})["connect_timeout"] = env.int("CLEARCUE_DB_CONNECT_TIMEOUT", 5, minimum=1)
        # No JIT: compiling the rights evaluation's statements cost 3.7 s of an 11 s evaluation of 1M works,
        # and short statements never win it back. (A URL that sets its own `options` keeps them.)
        _db["OPTIONS"].setdefault("options", "-c jit=off")
        _db["CONN_HEALTH_CHECKS"] = True
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA_DIR / "clearcue.sqlite3")}
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so concurrent writers queue instead of
    # failing with "database is locked" on upgrade; WAL lets readers proceed meanwhile.
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DATABASES = {"default": _db}
# Covering indexes (`include=`) are a PostgreSQL optimization of rights evaluation; SQLite builds the same
# unique constraints without the non-key columns, which is what it would warn about.
SILENCED_SYSTEM_CHECKS = ["models.W039"] if _db["ENGINE"] == "django.db.backends.sqlite3" else []

# --- Cache (throttling, rate state); Redis when several processes must share it ------------------------
CACHE_URL = env.url("CLEARCUE_CACHE_URL", ("redis", "rediss"))
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "clearcue"}
    )
}

# --- Storage -----------------------------------------------------------------------------------------
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_URL = "/static/"
for _dir in (MEDIA_ROOT, STATIC_ROOT):
    _dir.mkdir(parents=True, exist_ok=True)
STORAGE_BACKEND = env.choice("CLEARCUE_STORAGE", "filesystem", ("filesystem", "s3"))
if STORAGE_BACKEND == "s3":
    _bucket = env.str("CLEARCUE_S3_BUCKET")
    if not _bucket:
        raise ImproperlyConfigured("CLEARCUE_S3_BUCKET: required when CLEARCUE_STORAGE=s3")
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _bucket,
            "endpoint_url": env.url("CLEARCUE_S3_ENDPOINT_URL", ("http", "https")),
            "region_name": env.str("CLEARCUE_S3_REGION"),
            "access_key": env.str("CLEARCUE_S3_ACCESS_KEY_ID"),
            "secret_key": env.str("CLEARCUE_S3_SECRET_ACCESS_KEY"),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve app static files straight from their finders, so `collectstatic` is optional in the embedded mode.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Auth --------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/admin/login/"
# API keys update their last-used time at most this often, so authentication is not a write per request.
API_KEY_LAST_USED_RESOLUTION_SECONDS = env.int("CLEARCUE_API_KEY_LAST_USED_RESOLUTION", 60, minimum=0)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- API ---------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clearcue.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.rate("CLEARCUE_THROTTLE_ANON", "60/min"),
        "user": env.rate("CLEARCUE_THROTTLE_USER", "1200/min"),
    },
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clearcue.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Clearcue API",
    "DESCRIPTION": "Licensed generative film music: catalog, license ledger, opt-outs, gated generation, provenance.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.url("CELERY_BROKER_URL", ("redis", "rediss", "amqp", "amqps", "pyamqp"))
CELERY_RESULT_BACKEND = env.url("CELERY_RESULT_BACKEND", ("redis", "rediss", "rpc", "db+postgresql"))
if CELERY_BROKER_URL and not CELERY_RESULT_BACKEND and CELERY_BROKER_URL.startswith("redis"):
    CELERY_RESULT_BACKEND = CELERY_BROKER_URL
# Embedded default: no broker means tasks run in-process, right where they are enqueued (after commit).
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
if CELERY_TASK_ALWAYS_EAGER:
    # Celery still builds a producer for eager calls; an in-memory transport keeps it from probing a broker.
    CELERY_BROKER_URL = "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_DEFAULT_QUEUE = "default"
# Every task name maps to one queue here; tests check that each registered task is routed explicitly.
CELERY_TASK_ROUTES = {
    "clearcue.*": {"queue": "default"},
    "licensing.ingest.*": {"queue": "ingest"},
    "licensing.ledger.*": {"queue": "ledger"},
    "generation.*": {"queue": "generate"},
    "provenance.seal.*": {"queue": "seal"},
    "provenance.impact.*": {"queue": "default"},
}
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CLEARCUE_TASK_SOFT_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_TIME_LIMIT = env.int("CLEARCUE_TASK_TIME_LIMIT", 660, minimum=1)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("CLEARCUE_TASK_TIME_LIMIT: must exceed CLEARCUE_TASK_SOFT_TIME_LIMIT")
# One task at a time per process slot: long generation tasks must not sit prefetched behind another.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis: a task not acknowledged within this many seconds is redelivered (acks_late tasks).
    "visibility_timeout": CELERY_TASK_TIME_LIMIT + 60,
}
_key_prefix = env.str("CLEARCUE_BROKER_KEY_PREFIX")
if _key_prefix:
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = _key_prefix
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True
# Periodic work (run `make beat`, one per deployment).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "ledger-checkpoint": {
        "task": "licensing.ledger.publish_checkpoint",
        "schedule": float(env.int("CLEARCUE_CHECKPOINT_INTERVAL", 300, minimum=5)),
    },
    "requeue-stale-imports": {"task": "licensing.ingest.requeue_stale_imports", "schedule": 120.0},
    "requeue-stalled-jobs": {"task": "generation.jobs.requeue_stalled", "schedule": 30.0},
    "clearance-catch-up": {"task": "generation.clearance.catch_up", "schedule": 60.0},
    "impact-reports": {"task": "provenance.impact.report_changes", "schedule": 60.0},
}

# --- Catalog ------------------------------------------------------------------------------------------
# Rows per committed import batch: larger batches go faster, smaller ones lose less work to a crash.
CLEARCUE_IMPORT_BATCH_SIZE = env.int("CLEARCUE_IMPORT_BATCH_SIZE", 1000, minimum=1)
# Imports that write at least this many works are followed by VACUUM (ANALYZE) of the catalog tables
# (PostgreSQL; licensing.importer.refresh_statistics).
CLEARCUE_IMPORT_VACUUM_ROWS = env.int("CLEARCUE_IMPORT_VACUUM_ROWS", 10_000, minimum=1)

# --- Jobs ------------------------------------------------------------------------------------------------
# Seconds a worker holds a job step; after that the reaper hands the job to another worker.
CLEARCUE_JOB_CLAIM_SECONDS = env.int("CLEARCUE_JOB_CLAIM_SECONDS", 300, minimum=2)

# --- Ledger --------------------------------------------------------------------------------------------
# The checkpoint origin line (C2SP tlog-checkpoint): a schema-less URL naming this log.
LEDGER_ORIGIN = env.str("CLEARCUE_LEDGER_ORIGIN", "clearcue.localhost/ledger") or ""
if not LEDGER_ORIGIN or any(c.isspace() for c in LEDGER_ORIGIN) or "+" in LEDGER_ORIGIN:
    raise ImproperlyConfigured("CLEARCUE_LEDGER_ORIGIN: must be non-empty, without spaces or '+'")
# The signing key as a signed-note key string (PRIVATE+KEY+...), or a file made by `init_ledger_key`.
LEDGER_SIGNING_KEY = env.str("CLEARCUE_LEDGER_SIGNING_KEY")
LEDGER_SIGNING_KEY_PATH = Path(env.str("CLEARCUE_LEDGER_SIGNING_KEY_PATH", str(DATA_DIR / "keys" / "ledger.key")) or "")

# --- Provenance ----------------------------------------------------------------------------------------
# C2PA signing: a certificate chain (leaf first) and its private key, made for development by `init_pki`.
# A KMS/HSM key: CLEARCUE_C2PA_SIGNER_FACTORY names a callable returning a provenance.pki.SigningIdentity.
CLEARCUE_PKI_DIR = Path(env.str("CLEARCUE_PKI_DIR", str(DATA_DIR / "pki")) or "")
C2PA_CERT_CHAIN_PATH = Path(env.str("CLEARCUE_C2PA_CERT_CHAIN", str(CLEARCUE_PKI_DIR / "chain.pem")) or "")
C2PA_SIGNING_KEY_PATH = Path(env.str("CLEARCUE_C2PA_SIGNING_KEY", str(CLEARCUE_PKI_DIR / "signer.key")) or "")
C2PA_SIGNER_FACTORY = env.str("CLEARCUE_C2PA_SIGNER_FACTORY")
# The roots our verifier trusts (PEM bundle); third parties add our root to theirs the same way.
C2PA_TRUST_ANCHORS_PATH = Path(env.str("CLEARCUE_C2PA_TRUST_ANCHORS", str(CLEARCUE_PKI_DIR / "root.pem")) or "")
C2PA_TSA_URL = env.url("CLEARCUE_C2PA_TSA_URL", ("http", "https"))
# Watermark: `keyed` (default, needs no weights) or `audioseal` (needs the published checkpoints).
WATERMARK_BACKEND = env.choice("CLEARCUE_WATERMARK_BACKEND", "keyed", ("keyed", "audioseal"))
# Keyed watermark secrets: "<key id>:<base64 secret>" comma-separated (or a file of one per line, made by
# `init_watermark_key`); the last key embeds, every key detects (rotation keeps old outputs resolvable).
WATERMARK_KEYS = env.str("CLEARCUE_WATERMARK_KEYS")
WATERMARK_KEYS_PATH = Path(env.str("CLEARCUE_WATERMARK_KEYS_PATH", str(DATA_DIR / "keys" / "watermark.keys")) or "")
AUDIOSEAL_GENERATOR = env.str("CLEARCUE_AUDIOSEAL_GENERATOR")
AUDIOSEAL_GENERATOR_SHA256 = env.str("CLEARCUE_AUDIOSEAL_GENERATOR_SHA256")
AUDIOSEAL_DETECTOR = env.str("CLEARCUE_AUDIOSEAL_DETECTOR")
AUDIOSEAL_DETECTOR_SHA256 = env.str("CLEARCUE_AUDIOSEAL_DETECTOR_SHA256")
# Uploads to /api/v1/verify and the soft-binding resolution API.
VERIFY_MAX_BYTES = env.int("CLEARCUE_VERIFY_MAX_BYTES", 100 * 1024 * 1024, minimum=1024)
VERIFY_MAX_SECONDS = env.int("CLEARCUE_VERIFY_MAX_SECONDS", 900, minimum=1)

# --- Logging -----------------------------------------------------------------------------------------
LOG_LEVEL = env.choice("CLEARCUE_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
