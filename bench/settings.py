"""Django settings for the Switchboard processes the benchmark starts.

Switchboard's base settings, unchanged, as production would run them: DEBUG off (no
query log growing in memory), Redis and the database from REDIS_URL and DATABASE_URL
(the private redis-server and a fresh SQLite file under var/bench/, or
BENCH_DATABASE_URL). Only what production requires from its environment is filled in
here; the TLS redirect and secure cookies of production.py are left out because the
benchmark speaks plain HTTP on loopback.
"""

from project.settings.base import *  # noqa: F403
from project.settings.base import env

SECRET_KEY = "switchboard-benchmark-key-not-secret"  # noqa: S105 - a throwaway benchmark database
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# The private redis-server runs with AOF, as production requires.
SWITCHBOARD_REQUIRE_AOF = env.bool("SWITCHBOARD_REQUIRE_AOF", default=True)
# The limiter runs (its Redis call is part of what a publish costs) but never throttles
# the benchmark's own load, which is far above the default 1000/s per key.
SWITCHBOARD_RATE_LIMIT_PUBLISH = env.str("SWITCHBOARD_RATE_LIMIT_PUBLISH", default="1000000/s")
SWITCHBOARD_RATE_LIMIT_API = env.str("SWITCHBOARD_RATE_LIMIT_API", default="1000000/s")
