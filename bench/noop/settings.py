"""Switchboard's benchmark settings with the no-op URLconf."""

from bench.settings import *  # noqa: F403

ROOT_URLCONF = "bench.noop.urls"
