"""Settings for the test suite: fast hashing, a throwaway secret, Redis from the test run."""

import os

from project.settings.base import *  # noqa: F403
from project.settings.base import DATABASES, INSTALLED_APPS, VAR_DIR, env

SECRET_KEY = "switchboard-test-key"  # noqa: S105 - tests only
DEBUG = False
ALLOWED_HOSTS = ["*"]
# The consumer of the fault drills (tests/system), registered only where tests run.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.fault_app"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# System tests start their own Redis and pass its URL; unit tests never reach Redis.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:1/0")
CELERY_BROKER_URL = REDIS_URL
# Rate limits are off unless a test turns them on (tests/system/test_rate_limits.py).
SWITCHBOARD_RATE_LIMIT_PUBLISH = env.str("SWITCHBOARD_RATE_LIMIT_PUBLISH", default="off")
SWITCHBOARD_RATE_LIMIT_API = env.str("SWITCHBOARD_RATE_LIMIT_API", default="off")
SWITCHBOARD_RATE_LIMIT_AUTH_FAILURES = env.str("SWITCHBOARD_RATE_LIMIT_AUTH_FAILURES", default="off")

# One test database per test run (named by the pytest process), so two runs on one
# machine never share or drop each other's database. System tests hand its name to the
# workers and web servers they start.
_RUN = env.str("SWITCHBOARD_TEST_RUN", default=str(os.getpid()))
if DATABASES["default"]["ENGINE"] == "apps.core.sqlite_backend":
    # A file, not Django's default in-memory test database: system tests run workers and
    # a web server in other processes, which must see the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-switchboard-{_RUN}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_switchboard_{_RUN}"}

# The demo webhook (topology.yaml `email-send`, posting to /demo/receiver/) signs and
# verifies with this variable: a fixed, public demo secret unless it is set.
os.environ.setdefault("SWITCHBOARD_DEMO_WEBHOOK_SECRETS", "whsec_c3dpdGNoYm9hcmQtZGVtby13ZWJob29rLXNlY3JldCE=")
# The demo receiver is Switchboard itself, on loopback.
SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS = env.list("SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# gunicorn in the system tests serves static files (the dashboard's chart library) from
# the apps' static folders, without a collectstatic run.
WHITENOISE_USE_FINDERS = True
