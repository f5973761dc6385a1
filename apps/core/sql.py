"""The multi-row INSERTs written by hand on the publish path (see rows_insert)."""

from functools import lru_cache
from typing import Any

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


@lru_cache(maxsize=128)
def insert_sql(table: str, columns: tuple[str, ...], rows: int, returning: str | None = None) -> str:
    """Return `INSERT INTO table (columns) VALUES (...), ... [RETURNING returning]` for `rows` rows."""
    q = connection.ops.quote_name
    values = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = f"INSERT INTO {q(table)} ({', '.join(q(c) for c in columns)}) VALUES {', '.join([values] * rows)}"  # noqa: S608 - names from model metadata
    return f"{sql} RETURNING {q(returning)}" if returning else sql


def rows_insert(
    table: str, columns: tuple[str, ...], rows: list[list[Any]], *, returning: str | None = None
) -> list[Any]:
    """INSERT `rows` (values already adapted for the database) in as few statements as allowed.

    Return the `returning` column of each row, in order (empty without `returning`).
    """
    returned: list[Any] = []
    per_insert = rows_per_insert(len(columns))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_insert):
            chunk = rows[start : start + per_insert]
            cursor.execute(insert_sql(table, columns, len(chunk), returning), [value for row in chunk for value in row])
            if returning:
                returned += [row[0] for row in cursor.fetchall()]
    return returned
