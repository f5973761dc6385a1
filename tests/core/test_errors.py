"""Tests for apps.core.errors: the error-text helpers."""

import pytest

from apps.core.errors import error_summary


@pytest.mark.parametrize(
    ("error", "summary"),
    [
        ("", None),
        (None, None),
        ("   ", None),
        (" \n\t\n  ", None),
        ("ValueError: boom", "ValueError: boom"),
        ("Traceback (most recent call last):\n  File x, line 1\nValueError: boom\n", "ValueError: boom"),
        ("first\nlast  \n\n   \n", "last"),
    ],
    ids=["empty", "none", "spaces", "blank-lines", "one-line", "traceback", "trailing-blank-lines"],
)
def test_error_summary_is_the_last_non_blank_line_or_none(error: str | None, summary: str | None) -> None:
    assert error_summary(error) == summary
