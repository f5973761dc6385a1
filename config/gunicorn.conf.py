"""Gunicorn settings for the `web` process (scripts/start/web), locally and in Docker.

Every value can be overridden from the environment; the defaults suit `make run`.
"""

import os

# Loopback by default: the embedded setup is for this machine only. Docker sets
# GUNICORN_BIND=0.0.0.0:8000 so the container's port can be published.
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")

# Synchronous workers: each request is a short database write; two processes keep a
# small machine responsive. Scale with WEB_CONCURRENCY (about 2 x cores).
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"

# A request that takes longer than this is stuck (a lock, a dead database): kill the
# worker and answer the others instead of queueing behind it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Time to finish in-flight requests on SIGTERM before workers are killed.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# Keep an idle client connection open briefly, so a burst of publishes reuses it.
keepalive = 5

# Recycle workers now and then so a slow leak cannot grow without bound; the jitter
# keeps them from restarting all at once.
max_requests = 2000
max_requests_jitter = 200

# Workers' heartbeat files in memory, not on a container's overlay disk that can stall.
_shared_memory = "/dev/shm"  # noqa: S108 - heartbeats only, never data
worker_tmp_dir = _shared_memory if os.path.isdir(_shared_memory) else None

# Access and error logs to stdout/stderr, where honcho and Docker collect them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'

proc_name = "switchboard-web"
