"""limit/offset paging that refuses a malformed or out-of-range value instead of ignoring it."""

from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

# Beyond a 64-bit integer the database cannot take an OFFSET (SQLite fails outright).
MAX_OFFSET = 2**63 - 1


class StrictLimitOffsetPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500

    def get_limit(self, request: Request) -> int:
        return bounded_int(request, self.limit_query_param, default=self.default_limit, low=1, high=self.max_limit)

    def get_offset(self, request: Request) -> int:
        return bounded_int(request, self.offset_query_param, default=0, low=0, high=MAX_OFFSET)


def bounded_int(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    """Read query parameter `name` as a whole number from `low` to `high`, or raise a ValidationError naming it."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise serializers.ValidationError({name: [f"Must be a whole number from {low} to {high}."]})
    return value
