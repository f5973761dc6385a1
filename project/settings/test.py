"""Settings for the test suite: fast hashing, a throwaway secret, Redis from the test run."""

from project.settings.base import *  # noqa: F403
from project.settings.base import DATABASES, VAR_DIR, env

SECRET_KEY = "switchboard-test-key"  # noqa: S105 - tests only
DEBUG = False
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# System tests start their own Redis and pass its URL; unit tests never reach Redis.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:1/0")
CELERY_BROKER_URL = REDIS_URL

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not Django's default in-memory test database: system tests run workers and
    # a web server in other processes, which must see the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-switchboard.sqlite3")}
