"""Production settings: secrets have no default, so a missing one stops start-up.

Required: DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, DATABASE_URL, REDIS_URL.
Optional: SENTRY_DSN (see base), DJANGO_SECURE_SSL_REDIRECT (default on), DJANGO_HSTS_SECONDS.
"""

from project.settings.base import *  # noqa: F403
from project.settings.base import env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
REDIS_URL = env.str("REDIS_URL")
# A Redis restart must not lose queued messages: refuse one without AOF.
SWITCHBOARD_REQUIRE_AOF = env.bool("SWITCHBOARD_REQUIRE_AOF", default=True)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)

# HTTPS only, behind a proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# /healthz and /readyz are probed over plain HTTP by the orchestrator; the demo webhook
# posts to /demo/receiver/ and Prometheus scrapes /metrics (with its bearer token) over
# the internal network (docker compose: http://web:8000).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^demo/receiver/$", r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
