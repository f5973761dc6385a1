"""Tests for apps.core.api.parsers: size limits before parsing, orjson decoding."""

import io

import pytest
from django.test import RequestFactory
from pytest_django.fixtures import Settings
from rest_framework import exceptions

from apps.core.api.parsers import JSONParser, RequestTooLargeError


def _parse(body: bytes, *, content_length: int | None) -> object:
    request = RequestFactory().post("/", data=body, content_type="application/json")
    if content_length is None:
        del request.META["CONTENT_LENGTH"]
    else:
        request.META["CONTENT_LENGTH"] = str(content_length)
    return JSONParser().parse(io.BytesIO(body), "application/json", {"request": request})


def test_parses_json_objects_and_arrays() -> None:
    assert _parse(b'{"payload": {"n": 1}, "key": "k"}', content_length=33) == {"payload": {"n": 1}, "key": "k"}
    assert _parse(b"[1, 2]", content_length=6) == [1, 2]


def test_malformed_json_is_a_parse_error() -> None:
    with pytest.raises(exceptions.ParseError) as info:
        _parse(b'{"payload": ', content_length=12)
    assert str(info.value.detail).startswith("The request body is not valid JSON: ")


def test_declared_length_over_the_limit_is_refused_before_reading(settings: Settings) -> None:
    settings.SWITCHBOARD_MAX_REQUEST_BYTES = 10
    with pytest.raises(RequestTooLargeError) as info:
        _parse(b"{}", content_length=11)
    assert info.value.status == 413
    assert str(info.value) == "The request body has 11 bytes; at most 10 are accepted."


def test_undeclared_length_over_the_limit_is_refused_after_limit_plus_one_bytes(settings: Settings) -> None:
    settings.SWITCHBOARD_MAX_REQUEST_BYTES = 10
    with pytest.raises(RequestTooLargeError) as info:
        _parse(b'{"a": "0123456789"}', content_length=None)
    assert str(info.value) == "The request body has more than 10 bytes."


def test_body_of_exactly_the_limit_is_parsed(settings: Settings) -> None:
    settings.SWITCHBOARD_MAX_REQUEST_BYTES = 10
    assert _parse(b'{"a": "1"}', content_length=None) == {"a": "1"}
    assert _parse(b'{"a": "1"}', content_length=10) == {"a": "1"}
