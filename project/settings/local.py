"""Settings for `make run` and development: the embedded default (SQLite, local Redis)."""

from project.settings.base import *  # noqa: F403
from project.settings.base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# A stable development key, so sessions survive restarts; production has no default.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="switchboard-local-development-key-not-for-production")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
