"""Helpers for the few statements written by hand on the hot paths."""

from django.db import connection

# Rows per multi-row INSERT where the database sets no limit on parameters.
MAX_ROWS_PER_INSERT = 500


def rows_per_insert(columns: int) -> int:
    """Return how many rows of `columns` values one INSERT may carry on this database.

    SQLite builds before 3.32 take at most 999 parameters per statement (Django's
    `max_query_params`); PostgreSQL sets no such limit.
    """
    limit = connection.features.max_query_params
    return MAX_ROWS_PER_INSERT if limit is None else max(1, min(MAX_ROWS_PER_INSERT, limit // columns))
