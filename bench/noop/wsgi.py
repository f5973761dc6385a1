"""WSGI entry point of the no-op endpoint (gunicorn bench.noop.wsgi:application)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.noop.settings")

application = get_wsgi_application()
