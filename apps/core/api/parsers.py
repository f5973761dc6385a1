"""A JSON parser that refuses oversized bodies before reading them, parses with orjson, and refuses
what cannot be kept as sent (apps.core.json_input)."""

from collections.abc import Mapping
from typing import IO, Any

import orjson
from django.conf import settings
from rest_framework import exceptions, parsers

from apps.core.errors import SwitchboardError
from apps.core.json_input import integers_exact_check, json_value_check


class RequestTooLargeError(SwitchboardError):
    status = 413
    code = "request-too-large"
    title = "The request body is larger than allowed"


class JSONParser(parsers.JSONParser):
    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        context = parser_context or {}
        request = context.get("request")
        # A view may name a setting with a larger limit (the batch endpoint does).
        setting = getattr(context.get("view"), "max_request_bytes_setting", "SWITCHBOARD_MAX_REQUEST_BYTES")
        limit = getattr(settings, setting)
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        if length > limit:
            raise RequestTooLargeError(f"The request body has {length} bytes; at most {limit} are accepted.")
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestTooLargeError(f"The request body has more than {limit} bytes.")
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise exceptions.ParseError(f"The request body is not valid JSON: {exc}") from exc
        json_value_check(parsed)
        integers_exact_check(body, parsed)
        return parsed
