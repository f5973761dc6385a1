"""Django's SQLite backend, with write transactions that queue instead of sleeping (see base)."""
