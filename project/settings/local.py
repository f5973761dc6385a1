"""Settings for `make run` and development: the embedded default (SQLite, local Redis)."""

import os

from project.settings.base import *  # noqa: F403
from project.settings.base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# A stable development key, so sessions survive restarts; production has no default.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="switchboard-local-development-key-not-for-production")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

# The demo webhook (topology.yaml `email-send`, posting to /demo/receiver/) signs and
# verifies with this variable: a fixed, public demo secret unless it is set.
os.environ.setdefault("SWITCHBOARD_DEMO_WEBHOOK_SECRETS", "whsec_c3dpdGNoYm9hcmQtZGVtby13ZWJob29rLXNlY3JldCE=")
# The demo receiver is Switchboard itself, on loopback.
SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS = env.list("SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# Alert emails are printed by the worker that sends them, unless EMAIL_URL names a server.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
