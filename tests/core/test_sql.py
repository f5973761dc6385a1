"""How many rows one hand-written INSERT carries."""

import pytest
from django.db import connection

from apps.core.sql import MAX_ROWS_PER_INSERT, rows_per_insert


@pytest.mark.parametrize(
    ("limit", "columns", "rows"),
    [(999, 8, 124), (999, 2000, 1), (None, 8, MAX_ROWS_PER_INSERT), (100_000, 8, MAX_ROWS_PER_INSERT)],
)
def test_rows_per_insert_keeps_within_the_databases_parameter_limit(
    monkeypatch: pytest.MonkeyPatch, limit: int | None, columns: int, rows: int
) -> None:
    monkeypatch.setattr(connection.features, "max_query_params", limit)

    assert rows_per_insert(columns) == rows
