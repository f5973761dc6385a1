"""Settings shared by every environment, read from the environment with django-environ.

Environment-specific modules (local, production, test) import everything from here and
override what differs. Every value a deployment may change is an environment variable;
`config/env.example` lists them.
"""

import re
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

# --- Django core ---------------------------------------------------------------------

DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
TIME_ZONE = "UTC"
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'switchboard.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # Web, worker, relay and beat write to one SQLite file at once: WAL lets readers run
    # beside the writer, IMMEDIATE transactions take the write lock up front (no failed
    # lock upgrades), and the timeout makes a writer wait instead of failing. Django's
    # backend with one change: write transactions queue on a file lock instead of
    # SQLite's sleeping busy handler (apps/core/sqlite_backend).
    DATABASES["default"]["ENGINE"] = "apps.core.sqlite_backend"
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Keep connections open between requests and tasks (opening one costs more than most
# requests): Django closes them at request boundaries, and workers between tasks (see
# project/celery.py), once they are older than this or have failed.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "axes",
    "apps.core",
    "apps.accounts",
    "apps.topology",
    "apps.publishing",
    "apps.delivery",
    "apps.deadletters",
    "apps.monitoring",
    "apps.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.core.middleware.RequestGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

# Admin logins lock out after repeated failures (django-axes): AxesStandaloneBackend
# refuses a locked-out username from that address before Django checks the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
# Hours a lockout lasts; a successful login before then resets the count.
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_TIME_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The attempts live in the database (axes' own tables), shared by every web process.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Admin messages live in the session (the database), not a cookie: one carries a new API key's secret.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Log lines: "plain" text, or "json" (one object a line, with the message id, subscription
# and delivery id on every delivery line); each 4xx is one line without a traceback
# (apps/core/logs.py).
SWITCHBOARD_LOG_FORMAT = env.str("SWITCHBOARD_LOG_FORMAT", default="plain")
if SWITCHBOARD_LOG_FORMAT not in ("plain", "json"):
    raise environ.ImproperlyConfigured(f"SWITCHBOARD_LOG_FORMAT must be plain or json, not {SWITCHBOARD_LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "apps.core.logs.ContextFilter"},
        "client_errors": {"()": "apps.core.logs.ClientErrorFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "apps.core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": SWITCHBOARD_LOG_FORMAT,
            "filters": ["context", "client_errors"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # django-axes says its version at every process start; lockouts still log (axes.handlers).
    "loggers": {"axes.apps": {"level": "WARNING"}},
}

# --- REST API ------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.accounts.authentication.ApiKeyAuthentication"],
    # Each view declares `required_scope`; one without is closed to every key.
    "DEFAULT_PERMISSION_CLASSES": ["apps.accounts.permissions.ScopePermission"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "apps.accounts.schema.ScopedAutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.problems.problem_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["apps.accounts.ratelimit.ApiKeyRateThrottle"],
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": "Publish messages to topics; inspect their delivery to subscriptions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Switchboard ---------------------------------------------------------------------

# Largest accepted payload, measured as its compact JSON encoding.
SWITCHBOARD_MAX_PAYLOAD_BYTES = env.int("SWITCHBOARD_MAX_PAYLOAD_BYTES", default=256 * 1024)
# Request bodies may carry attributes and a key beside the payload; anything beyond this
# is refused before it is parsed.
SWITCHBOARD_MAX_REQUEST_BYTES = SWITCHBOARD_MAX_PAYLOAD_BYTES + 64 * 1024
# A batch publish carries up to 500 messages; its whole body is bounded separately.
SWITCHBOARD_MAX_BATCH_REQUEST_BYTES = env.int("SWITCHBOARD_MAX_BATCH_REQUEST_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(SWITCHBOARD_MAX_REQUEST_BYTES, SWITCHBOARD_MAX_BATCH_REQUEST_BYTES)
# Refuse a Redis without an append-only file (production turns this on).
SWITCHBOARD_REQUIRE_AOF = env.bool("SWITCHBOARD_REQUIRE_AOF", default=False)
# How long an Idempotency-Key is remembered (Stripe keeps them 24 hours).
SWITCHBOARD_IDEMPOTENCY_TTL_SECONDS = env.int("SWITCHBOARD_IDEMPOTENCY_TTL_SECONDS", default=24 * 3600)
# A running delivery holds a lease in Redis, renewed every third of this; when its worker
# dies, the relay sends the delivery again once the lease has run out.
SWITCHBOARD_LEASE_SECONDS = env.float("SWITCHBOARD_LEASE_SECONDS", default=6.0)
# Retention (beat, apps/core/retention.py): days a finished message is kept with its
# deliveries and attempts (a topic's `retention_days` overrides it), and days a dead
# letter is kept, replayed or not.
SWITCHBOARD_RETENTION_DAYS = env.int("SWITCHBOARD_RETENTION_DAYS", default=7)
SWITCHBOARD_DEAD_LETTER_RETENTION_DAYS = env.int("SWITCHBOARD_DEAD_LETTER_RETENTION_DAYS", default=30)
# Days an audit event is kept (apps/accounts/retention.py).
SWITCHBOARD_AUDIT_RETENTION_DAYS = env.int("SWITCHBOARD_AUDIT_RETENTION_DAYS", default=365)
# Every worker compares the queues it consumes with the subscriptions' `paused` flags
# (the truth) this often, and follows them: a pause or a new subscription takes effect
# within this many seconds, however it was made. One small query per worker each time.
SWITCHBOARD_PAUSE_RECONCILE_SECONDS = env.float("SWITCHBOARD_PAUSE_RECONCILE_SECONDS", default=1.0)
SWITCHBOARD_TOPOLOGY_FILE = env.path("SWITCHBOARD_TOPOLOGY_FILE", default=BASE_DIR / "config" / "topology.yaml")

# --- Monitoring ----------------------------------------------------------------------

# GET /metrics answers only `Authorization: Bearer <this token>`. Without a token it is
# off (404) unless SWITCHBOARD_METRICS_PUBLIC is true (a scrape network of its own).
SWITCHBOARD_METRICS_TOKEN = env.str("SWITCHBOARD_METRICS_TOKEN", default="")
SWITCHBOARD_METRICS_PUBLIC = env.bool("SWITCHBOARD_METRICS_PUBLIC", default=False)
# Count published messages, delivery outcomes and timings (apps.core.telemetry). Off
# only to measure what counting costs (bench); /metrics then shows no counters move.
SWITCHBOARD_METRICS_COUNTING = env.bool("SWITCHBOARD_METRICS_COUNTING", default=True)
# Log every attempt of a Python consumer (DeliveryAttempt rows: a message's status, the
# admin). Off saves one INSERT per batch; the bench turns it off to price it.
SWITCHBOARD_ATTEMPT_LOG = env.bool("SWITCHBOARD_ATTEMPT_LOG", default=True)

# Rate limits (apps/accounts/ratelimit.py): <count>/<s|m|h>, or off. Per API key for
# publishing and for every other call; per client address for failed authentication.
SWITCHBOARD_RATE_LIMIT_PUBLISH = env.str("SWITCHBOARD_RATE_LIMIT_PUBLISH", default="1000/s")
SWITCHBOARD_RATE_LIMIT_API = env.str("SWITCHBOARD_RATE_LIMIT_API", default="50/s")
SWITCHBOARD_RATE_LIMIT_AUTH_FAILURES = env.str("SWITCHBOARD_RATE_LIMIT_AUTH_FAILURES", default="20/m")
for _name in ["SWITCHBOARD_RATE_LIMIT_PUBLISH", "SWITCHBOARD_RATE_LIMIT_API", "SWITCHBOARD_RATE_LIMIT_AUTH_FAILURES"]:
    if not re.fullmatch(r"off|[1-9][0-9]*/[smh]", globals()[_name].strip()):
        raise environ.ImproperlyConfigured(f"{_name} must be <count>/<s|m|h> (e.g. 1000/s) or off.")

# --- Redis and Celery ----------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6390/0")

# Seconds a task may stay unacknowledged before Redis hands it to another worker. A running
# delivery renews it every third of SWITCHBOARD_LEASE_SECONDS, which must not exceed it; a
# task may then run up to its time limit. It is the backstop for a worker whose deliveries
# the relay did not return (the relay does so once their lease runs out).
CELERY_BROKER_VISIBILITY_TIMEOUT = env.int("CELERY_BROKER_VISIBILITY_TIMEOUT", default=3600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=270)
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD", default=10_000)
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=2)
# Celery's Django fix-up closes the database connections around every task unless this is
# set; Switchboard's workers instead close them as Django does between requests (when
# older than CONN_MAX_AGE, or after an error), so the fix-up's hard close only comes
# every this many tasks.
CELERY_DB_REUSE_MAX = 1000
# Task events (task-received/started/succeeded, one Redis PUBLISH each) cost ~10% of a
# delivery. Flower turns them on in running workers by itself (its enable_events, every
# few seconds), so they flow while Flower runs; set this to send them from the start.
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_WORKER_SEND_TASK_EVENTS", default=False)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT,
    # kombu returns unacknowledged messages of dead workers every interval x throttle
    # seconds (10 x 10 by default: ~100 s). Switchboard's leases bring a dead worker's
    # deliveries back faster; this sweep is the backstop and costs one ZRANGE a second.
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
    # Fail fast when Redis is unreachable: publishes then wait in the outbox instead.
    "socket_connect_timeout": 2,
    "socket_timeout": 10,
    # Keep retrying a lost Redis connection instead of giving up on the first error.
    "retry_on_timeout": True,
    "socket_keepalive": True,
    "health_check_interval": 25,
}

# --- Webhooks ------------------------------------------------------------------------

# Seconds a webhook endpoint has to accept the connection, and then for each read of its
# answer. Far below CELERY_TASK_SOFT_TIME_LIMIT, so a slow endpoint fails one attempt
# (which is retried) instead of the task being killed mid-request.
SWITCHBOARD_WEBHOOK_CONNECT_TIMEOUT = env.float("SWITCHBOARD_WEBHOOK_CONNECT_TIMEOUT", default=3.0)
SWITCHBOARD_WEBHOOK_READ_TIMEOUT = env.float("SWITCHBOARD_WEBHOOK_READ_TIMEOUT", default=10.0)
if SWITCHBOARD_WEBHOOK_CONNECT_TIMEOUT + SWITCHBOARD_WEBHOOK_READ_TIMEOUT >= CELERY_TASK_SOFT_TIME_LIMIT:
    raise environ.ImproperlyConfigured(
        "The SWITCHBOARD_WEBHOOK_*_TIMEOUTs must add up to less than CELERY_TASK_SOFT_TIME_LIMIT."
    )
# Hosts that webhooks may reach although they are, or resolve to, loopback, private,
# link-local or other non-public addresses: comma-separated names or IP addresses, as
# written in webhook URLs (an IP address also admits names that resolve to it). Empty:
# public addresses only. Local and test settings allow 127.0.0.1 for the demo receiver.
SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS: list[str] = env.list("SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS", default=[])

# --- Error reporting and tracing (Sentry) ---------------------------------------------

# With a DSN, every process (web, worker, relay, beat) reports to Sentry in every
# environment: Django requests, Celery tasks and Redis calls are traced, and a trace runs
# from a publish through the hand-built task messages (apps.delivery.broker) to each
# delivery. A dead letter is one error event; retries are breadcrumbs
# (apps.delivery.error_reports).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
# Share of requests and tasks traced, 0.0 to 1.0 (errors are always sent).
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration(), RedisIntegration()],
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
        environment=SENTRY_ENVIRONMENT or None,
        send_default_pii=False,
    )

# --- Monitoring ----------------------------------------------------------------------

SWITCHBOARD_ALERTS_FILE = env.path("SWITCHBOARD_ALERTS_FILE", default=BASE_DIR / "config" / "alerts.yaml")
# Seconds between two evaluations of the alert rules, each after a sample of every
# subscription's figures for the dashboard (one beat task does both).
SWITCHBOARD_MONITORING_INTERVAL = env.float("SWITCHBOARD_MONITORING_INTERVAL", default=5.0)
# How long samples are kept: the dashboard charts the last hour; older rows are deleted.
SWITCHBOARD_SAMPLE_RETENTION_SECONDS = env.int("SWITCHBOARD_SAMPLE_RETENTION_SECONDS", default=2 * 3600)
CELERY_BEAT_SCHEDULE = {
    "monitoring-tick": {
        "task": "monitoring.tick",
        "schedule": SWITCHBOARD_MONITORING_INTERVAL,
        # A tick that waited longer than an interval is stale; the next one replaces it.
        "options": {"expires": SWITCHBOARD_MONITORING_INTERVAL},
    },
    # Deliveries whose TTL passed become dead letters `expired` within seconds wherever
    # they wait (apps/delivery/expiry.py); the relay sweeps every second as well.
    "expiry-deliveries": {"task": "delivery.deliveries_expire", "schedule": 5.0, "options": {"expires": 5.0}},
}
# Retention (apps/core/retention.py): bounded chunks per run, indexed, never open rows;
# seconds between runs per policy ("idempotency-keys" is the purge of keys past
# SWITCHBOARD_IDEMPOTENCY_TTL_SECONDS). Each entry expires after its interval: a run
# queued while no worker consumes the control queue is stale, the next one replaces it.
SWITCHBOARD_RETENTION_INTERVALS = {
    "messages": 60.0,
    "dead-letters": 300.0,
    "idempotency-keys": 300.0,
    "audit-events": 3600.0,
    "alert-incidents": 3600.0,
}
CELERY_BEAT_SCHEDULE.update(
    {
        f"retention-{policy}": {
            "task": "core.retention_run",
            "schedule": seconds,
            "kwargs": {"policy": policy},
            "options": {"expires": seconds},
        }
        for policy, seconds in SWITCHBOARD_RETENTION_INTERVALS.items()
    }
)
# Days a resolved alert incident is kept (apps/monitoring/retention.py).
SWITCHBOARD_ALERT_RETENTION_DAYS = env.int("SWITCHBOARD_ALERT_RETENTION_DAYS", default=30)
# Alert emails go through Django's email backend, configured by one URL
# (smtp://user:password@host:587 with ?ssl=True or tls; consolemail:// prints them).
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="switchboard@localhost")
