"""Settings for the whole project, read from the environment only.

Every variable is listed with its default in `.env.example` and the README. Defaults work on a
developer machine with PostgreSQL, Redis and RabbitMQ on localhost; `DJANGO_ENV=production`
removes the unsafe defaults and refuses to start without a real SECRET_KEY.
"""

from __future__ import annotations

from pathlib import Path

import environ
from corsheaders.defaults import default_headers as cors_default_headers
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def secret(name: str, default: str | None = None) -> str | None:
    """A secret from `NAME`, or from the file named by `NAME_FILE` (mounted Kubernetes secrets)."""
    file_path = env.str(f"{name}_FILE", default="")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path} cannot be read: {exc}") from exc
    return env.str(name, default=default)


# --- Environment --------------------------------------------------------------------------
DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("DJANGO_ENV must be 'development' or 'production'.")
PRODUCTION = DJANGO_ENV == "production"

# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key
_DEV_SECRET_KEY = "dev-insecure-secret-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = secret("SECRET_KEY", default=None if PRODUCTION else _DEV_SECRET_KEY)
# https://docs.djangoproject.com/en/5.2/ref/settings/#debug
DEBUG = env.bool("DEBUG", default=not PRODUCTION)

if PRODUCTION:
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("Production needs SECRET_KEY (or SECRET_KEY_FILE), 50+ random characters.")
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off in production.")

# https://docs.djangoproject.com/en/5.2/ref/settings/#allowed-hosts
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Browser front ends on other origins (scheme://host[:port]) may call REST and /mcp; the WebSocket
# Origin check accepts them too (sync_app/routing.py). https://github.com/adamchainz/django-cors-headers
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_HEADERS = (*cors_default_headers, "idempotency-key", "if-match", "x-request-id")
CORS_EXPOSE_HEADERS = ["ETag", "Location", "Idempotent-Replayed", "Retry-After", "X-Request-ID", "WWW-Authenticate"]
PORT = env.int("PORT", default=8000)

# --- Applications -------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    # Swagger UI served from our static files (SPECTACULAR_SETTINGS), pinned in requirements.
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "anymail",
    "channels",
    "corsheaders",
    "core",
    "kafka_bridge",
    "tasks_app",
    "recurrence_app",
    "notifications_app",
    "audit_app",
    "sync_app",
    "mcp_app",
]

MIDDLEWARE = [
    "core.correlation.CorrelationIdMiddleware",
    "core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before anything that answers on its own (WhiteNoise, CommonMiddleware): preflights included.
    "corsheaders.middleware.CorsMiddleware",
    # Serves the admin's static files from the ASGI server itself (no separate web server needed).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.csp.ContentSecurityPolicyMiddleware",
    "core.errors.ApiExceptionMiddleware",
]

ROOT_URLCONF = "todo_project.urls"
WSGI_APPLICATION = "todo_project.wsgi.application"
ASGI_APPLICATION = "todo_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -----------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases
# DATABASE_URL holds the password, so it may come from a file too (DATABASE_URL_FILE).
DATABASES = {"default": env.db_url_config(secret("DATABASE_URL", default="postgres://postgres@localhost:5432/todo"))}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Opt-in connection pool (psycopg_pool, one per process) for the ASGI web server: there Django runs
# every request's sync code in a thread of its own, so CONN_MAX_AGE connections are not reused but
# opened per request and left to the garbage collector. Pooling needs CONN_MAX_AGE=0; it is not
# for the relay, whose session advisory lock must not outlive it.
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=0)
if DATABASE_POOL_MAX_SIZE > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
_test_db_name = env.str("TEST_DATABASE_NAME", default="")
if _test_db_name:
    DATABASES["default"]["TEST"] = {"NAME": _test_db_name}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/admin/login/"

# JWT bearer tokens (DESIGN.md section 4): a shared HS256 secret or a JWKS URL.
JWT_SIGNING_KEY = secret("JWT_SIGNING_KEY", default=None if PRODUCTION else "dev-jwt-signing-key-change-me-0123456789")
JWT_JWKS_URL = env.str("JWT_JWKS_URL", default="")
JWT_ISSUER = env.str("JWT_ISSUER", default="todo-backend")
JWT_AUDIENCE = env.str("JWT_AUDIENCE", default="todo-api")
JWT_LEEWAY_SECONDS = env.int("JWT_LEEWAY_SECONDS", default=30)
JWT_DEFAULT_TTL_SECONDS = env.int("JWT_DEFAULT_TTL_SECONDS", default=3600)
if PRODUCTION and not (JWT_SIGNING_KEY or JWT_JWKS_URL):
    raise ImproperlyConfigured("Production needs JWT_SIGNING_KEY (or _FILE) or JWT_JWKS_URL.")

# --- Internationalisation -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Without collectstatic (development), serve straight from the apps' static folders.
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Request limits -----------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#data-upload-max-memory-size
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.auth.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.LimitOffsetPagination",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per-client limits in the shared Redis cache (core/throttling.py): "N/s|min|hour|day", empty
    # for none. Over the limit: 429 with Retry-After. https://www.django-rest-framework.org/api-guide/throttling/
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.UserRateThrottle", "core.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER_RATE", default="600/min") or None,
        "anon": env.str("API_THROTTLE_ANON_RATE", default="60/min") or None,
    },
    # uvicorn's --proxy-headers already put the client's address (from trusted proxies only) in
    # REMOTE_ADDR; reading X-Forwarded-For again would let a client pick its own identity.
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Todo event backend API",
    "DESCRIPTION": (
        "Task management API for the Todo AI chatbot. Authenticate with `Authorization: Bearer <JWT>`. "
        'Every error has the shape `{"error": {"code", "message", "fields", "request_id"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SECURITY": [{"BearerAuth": []}],
    # The API's contract is the bearer token (DESIGN.md section 4); the session is for the admin.
    "AUTHENTICATION_WHITELIST": ["core.auth.authentication.JWTAuthentication"],
    # From drf-spectacular-sidecar, not a CDN: the docs work offline and run the version we pinned.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "APPEND_COMPONENTS": {
        "securitySchemes": {"BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    },
}

# --- Redis, channels ----------------------------------------------------------------------
REDIS_URL = secret("REDIS_URL", default="redis://127.0.0.1:6379/0")
CHANNEL_LAYER_PREFIX = env.str("CHANNEL_LAYER_PREFIX", default="todo")
CHANNEL_LAYERS = {
    "default": {
        # The pub/sub layer fans a group message out through Redis PUBLISH: one round trip per
        # group send however many processes hold members (DESIGN.md section 8). Ours is
        # channels_redis' with a per-socket inbox a tenth the size of its asyncio.Queue.
        "BACKEND": "sync_app.layers.SyncPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "max_connections": 90}],
            "prefix": CHANNEL_LAYER_PREFIX,
        },
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": CHANNEL_LAYER_PREFIX,
    }
}

# --- Celery -------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = secret("CELERY_BROKER_URL", default="amqp://guest:guest@127.0.0.1:5672//")
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# User-facing jobs (e-mail sends) have a queue of their own, so they never wait behind a backlog
# of housekeeping (periodic runs, relay wake-ups) in the default one. Named after the default
# queue, which each test run and bench run sets to its own. A worker started without --queues
# consumes every queue named here (todo_project/celery.py).
CELERY_TASK_ROUTES = {
    "notifications_app.tasks.send_notification_task": {"queue": f"{CELERY_TASK_DEFAULT_QUEUE}.email"},
}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup would close the database connection around every job; with this it
# (almost) never does, and core/celery_connections.py applies CONN_MAX_AGE and health checks.
CELERY_DB_REUSE_MAX = 1_000_000_000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "todo_project.beat:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Keep our JSON log formatter: by default the worker replaces the root logger's handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Filled by each app's `beat_schedule` (see todo_project/celery.py).
CELERY_BEAT_SCHEDULE: dict = {}

# --- Kafka --------------------------------------------------------------------------------
# Unset: `make dev` and the test harness start an embedded broker on this address:
# KAFKA_EMBEDDED_BROKER `tansu` (in memory, `make dev`'s default) or `apache` (Apache Kafka, on
# disk; the test suite's). https://kafka.apache.org/documentation/#configuration
KAFKA_EMBEDDED_PORT = env.int("KAFKA_EMBEDDED_PORT", default=9092)
KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="") or f"127.0.0.1:{KAFKA_EMBEDDED_PORT}"
KAFKA_EMBEDDED = not env.str("KAFKA_BOOTSTRAP_SERVERS", default="")
KAFKA_EMBEDDED_BROKER = env.str("KAFKA_EMBEDDED_BROKER", default="tansu")
if KAFKA_EMBEDDED_BROKER not in ("tansu", "apache"):
    raise ImproperlyConfigured(f"KAFKA_EMBEDDED_BROKER must be tansu or apache, not {KAFKA_EMBEDDED_BROKER!r}")
# Tansu's quirks (DESIGN.md section 11) are worked around only where this is on: by default
# wherever the embedded Tansu runs; the test harness sets it for its children.
KAFKA_TANSU_WORKAROUNDS = env.bool(
    "KAFKA_TANSU_WORKAROUNDS", default=KAFKA_EMBEDDED and KAFKA_EMBEDDED_BROKER == "tansu"
)
# librdkafka's group.protocol: `classic` or `consumer` (KIP-848, broker-side assignment).
KAFKA_GROUP_PROTOCOL = env.str("KAFKA_GROUP_PROTOCOL", default="classic")
if KAFKA_GROUP_PROTOCOL not in ("classic", "consumer"):
    raise ImproperlyConfigured(f"KAFKA_GROUP_PROTOCOL must be classic or consumer, not {KAFKA_GROUP_PROTOCOL!r}")
# A consumer member left without partitions this long closes its client and joins with a new one
# (kafka_bridge/consumer/loop.py): seen once with librdkafka, a member whose session timed out
# during a broker restart never connected again. 0 turns it off.
KAFKA_CONSUMER_REJOIN_SECONDS = env.float("KAFKA_CONSUMER_REJOIN_SECONDS", default=30.0)
KAFKA_TOPIC_PARTITIONS = env.int("KAFKA_TOPIC_PARTITIONS", default=3)
KAFKA_TOPIC_REPLICATION_FACTOR = env.int("KAFKA_TOPIC_REPLICATION_FACTOR", default=1)
# Topic configs `manage.py kafka_topics` sets (and corrects) on every topic, DLQs included.
# https://kafka.apache.org/documentation/#topicconfigs
KAFKA_TOPIC_RETENTION_MS = env.int("KAFKA_TOPIC_RETENTION_MS", default=7 * 24 * 3600 * 1000)
KAFKA_TOPIC_CLEANUP_POLICY = env.str("KAFKA_TOPIC_CLEANUP_POLICY", default="delete")
KAFKA_TOPIC_MIN_INSYNC_REPLICAS = env.int("KAFKA_TOPIC_MIN_INSYNC_REPLICAS", default=1)
KAFKA_SECURITY_CONFIG = env.dict("KAFKA_CLIENT_CONFIG", default={})
# Published outbox rows (by when they were written) and processed-event ids are pruned after
# these ages (kafka_bridge).
KAFKA_OUTBOX_RETENTION_HOURS = env.int("KAFKA_OUTBOX_RETENTION_HOURS", default=24)
KAFKA_PROCESSED_EVENTS_RETENTION_DAYS = env.int("KAFKA_PROCESSED_EVENTS_RETENTION_DAYS", default=14)
# Every outbox write NOTIFYs the looping relay (`relay_outbox --loop`) at commit; it also enqueues
# a Celery relay job, for deployments without the loop. Off where the loop runs: one broker
# publish (and one worker job) less per write; the beat sweep still catches up if the loop is down.
KAFKA_OUTBOX_CELERY_WAKEUP = env.bool("KAFKA_OUTBOX_CELERY_WAKEUP", default=True)
# Check each event against its payload model where a service emits it (the test suite turns it on).
KAFKA_VALIDATE_ON_EMIT = env.bool("KAFKA_VALIDATE_ON_EMIT", default=False)

# --- E-mail -------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/topics/email/ ; any anymail ESP backend works here.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=1025)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = secret("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Each sending thread keeps its connection open (notifications_app/mail_connections.py) for this
# many e-mails (1: a new connection per e-mail), and closes it after this many idle seconds.
EMAIL_CONNECTION_MAX_MESSAGES = env.int("EMAIL_CONNECTION_MAX_MESSAGES", default=100)
EMAIL_CONNECTION_MAX_IDLE_SECONDS = env.float("EMAIL_CONNECTION_MAX_IDLE_SECONDS", default=10.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Todo <todo@localhost>")
ANYMAIL = {key: secret(f"ANYMAIL_{key}") for key in env.list("ANYMAIL_SETTINGS", default=[])}

# --- Reminders and notifications (DESIGN.md section 6) ------------------------------------
# Send attempts per notification before it goes dead; retries wait a random time in
# [0, min(MAX, BASE * 2**(attempt-1))] seconds ("full jitter"). MAX stays under RabbitMQ's
# 30-minute consumer_timeout, which kills workers holding long countdown tasks.
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=5)
NOTIFICATION_RETRY_BASE_SECONDS = env.float("NOTIFICATION_RETRY_BASE_SECONDS", default=30.0)
NOTIFICATION_RETRY_MAX_SECONDS = env.float("NOTIFICATION_RETRY_MAX_SECONDS", default=900.0)
# How long a send attempt owns a notification; a crashed attempt is retried after this.
NOTIFICATION_SEND_LEASE_SECONDS = env.float("NOTIFICATION_SEND_LEASE_SECONDS", default=120.0)
# Notifications sent by one job (one claim, one SMTP connection; each recorded `sent` as accepted);
# the consumer splits each batch it creates into even chunks of at most this many. A job sends
# nothing more once it has run for half the lease (the rest are given back, each to a job of its own).
NOTIFICATION_SEND_BATCH_SIZE = env.int("NOTIFICATION_SEND_BATCH_SIZE", default=10)
# Seconds behind remind_at after which a fired reminder is marked late.
REMINDER_LATE_AFTER_SECONDS = env.float("REMINDER_LATE_AFTER_SECONDS", default=30.0)
REMINDER_DISPATCH_INTERVAL_SECONDS = env.float("REMINDER_DISPATCH_INTERVAL_SECONDS", default=0.5)

# --- Audit --------------------------------------------------------------------------------
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=90)

# --- WebSocket sync (DESIGN.md section 8) -------------------------------------------------
# Updates are kept this long for clients resuming with ?cursor=; older cursors get resync_required.
SYNC_RETENTION_HOURS = env.int("SYNC_RETENTION_HOURS", default=24)
# App-level ping interval: keeps idle sockets alive through proxies that cut silent connections.
SYNC_PING_SECONDS = env.float("SYNC_PING_SECONDS", default=25.0)
# A socket that sends no frame within this long after a ping is closed (4408). It is the only
# keepalive: the server runs uvicorn's websockets-sansio, which sends no WebSocket pings.
SYNC_PONG_TIMEOUT_SECONDS = env.float("SYNC_PONG_TIMEOUT_SECONDS", default=20.0)
# Each web process checks its channel layer this often with one heartbeat (sync_app/layer_watch.py);
# when the layer stops delivering, its sockets close with 1011 and their clients resume.
SYNC_LAYER_CHECK_SECONDS = env.float("SYNC_LAYER_CHECK_SECONDS", default=5.0)
# Client frames: a token bucket of SYNC_CLIENT_BURST frames refilled at SYNC_CLIENT_RATE per second.
SYNC_CLIENT_RATE = env.float("SYNC_CLIENT_RATE", default=5.0)
SYNC_CLIENT_BURST = env.int("SYNC_CLIENT_BURST", default=20)
# Overload (sync_app/admission.py): a process refuses new handshakes (503, Retry-After) while this
# many are still opening, or while its event loop runs this late; a loop that late also holds the
# pong deadline back (the server, not the client, was slow to read).
SYNC_MAX_OPENING_HANDSHAKES = env.int("SYNC_MAX_OPENING_HANDSHAKES", default=256)
SYNC_MAX_LOOP_LAG_SECONDS = env.float("SYNC_MAX_LOOP_LAG_SECONDS", default=0.5)
SYNC_RETRY_AFTER_SECONDS = env.int("SYNC_RETRY_AFTER_SECONDS", default=5)
# A token's user found active is not read again for this long (sync_app/auth.py): a user deactivated
# meanwhile can still open sockets for up to this long. 0: read on every handshake.
# Off by default: a cached user id outlives a deletion (sync_app/auth.py).
SYNC_ACTIVE_USER_SECONDS = env.float("SYNC_ACTIVE_USER_SECONDS", default=0.0)

# --- Security (production) ----------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# HTML under these paths may load scripts, styles, images and data from this origin only (core/csp.py).
CONTENT_SECURITY_POLICY_PATHS = ["/admin/", "/api/docs/"]

# --- Logging ------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "correlation": {"()": "core.logging.CorrelationIdFilter"},
        "redact": {"()": "core.logging.RedactSecretsFilter"},
    },
    "formatters": {"json": {"()": "core.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["correlation", "redact"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "kafka": {"level": "WARNING"},
    },
}
