"""A no-op DRF endpoint, served like Switchboard's publish endpoint, to price the HTTP stack.

It runs under the same gunicorn config (config/gunicorn.conf.py) with Switchboard's
settings, so it goes through the same stack: every middleware of project/settings/base.py
(security, whitenoise, sessions, common, CSRF, auth, messages, clickjacking), DRF's
APIView with the same authentication (API key, one database lookup), permission
(IsAuthenticated), orjson parser with its size limit, JSON renderer and problem-details
exception handler. The view parses the body and answers 202 with a receipt-shaped body;
it validates nothing and writes nothing.
"""
