"""Tests for apps.core.errors: the base error's field errors and the error-text helpers."""

import pytest

from apps.core.errors import SwitchboardError, error_summary, errors_text


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


def test_errors_text_says_nested_field_errors_in_one_line() -> None:
    errors = {"a": ["x", "y"], "b": {"c": ["z"]}}
    assert errors_text(errors) == "a: x y; b: c: z"
    assert errors_text(["Bad thing."]) == "Bad thing."
    assert errors_text("plain") == "plain"


def test_an_error_with_field_errors_says_them_as_its_message_and_lists_them() -> None:
    error = SwitchboardError(errors={"ids": ["There is no dead letter with id 7."]})
    assert str(error) == "ids: There is no dead letter with id 7."
    assert error.problem_fields() == {"errors": {"ids": ["There is no dead letter with id 7."]}}


def test_an_error_keeps_its_message_beside_field_errors_and_has_no_extras_without_them() -> None:
    assert str(SwitchboardError("Two fields are wrong.", errors={"a": ["x"]})) == "Two fields are wrong."
    assert SwitchboardError("Nothing else.").problem_fields() == {}
    assert SwitchboardError("Nothing else.").problem_headers() == {}
