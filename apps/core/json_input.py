"""What JSON Switchboard accepts beyond the grammar: bounded nesting, storable strings, exact integers.

PostgreSQL cannot store U+0000 in text or jsonb; deep nesting exhausts Python's stack in
the code that walks a payload; integers beyond 64 bits do not round-trip (orjson reads
them as floats, orjson.dumps refuses them). `json_value_check` refuses all three with the
path of the offending value, walking iteratively so any depth is safe to check.
"""

import json
from typing import Any

from apps.core.errors import SwitchboardError

MAX_JSON_DEPTH = 64
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class UnacceptableJsonError(SwitchboardError):
    """A JSON value is well formed but cannot be kept as sent; `errors` names its path."""

    status = 400
    code = "unacceptable-json"
    title = "JSON value not accepted"

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(errors={path or "body": [problem]})
        self.path = path


def _join(path: str, step: str | int) -> str:
    return f"{path}[{step}]" if isinstance(step, int) else (f"{path}.{step}" if path else step)


def text_check(value: str, path: str) -> None:
    """Refuse a string PostgreSQL cannot store (it contains U+0000)."""
    if "\x00" in value:
        raise UnacceptableJsonError(path, "Contains the NUL character (U+0000), which cannot be stored.")


def json_value_check(value: Any, *, path: str = "", max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse a NUL in a string or key, nesting beyond `max_depth`, or an integer beyond 64 bits."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            text_check(item, where)
        elif isinstance(item, bool | float) or item is None:
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                raise UnacceptableJsonError(where, "Integers must fit in 64 bits (send larger ones as strings).")
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise UnacceptableJsonError(where, f"Nested deeper than {max_depth} levels.")
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str):
                        text_check(key, _join(where, key))
                    stack.append((child, _join(where, str(key)), depth + 1))
            else:
                stack.extend((child, _join(where, index), depth + 1) for index, child in enumerate(item))


def _has_huge_float(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and abs(item) >= 2**63:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def integers_exact_check(body: bytes, parsed: Any) -> None:
    """Refuse integer literals beyond 64 bits, which orjson reads as floats.

    Only a body whose parsed value holds a float of 2**63 or more can contain one; that
    (rare) body is read again with the standard library, which keeps integers exact. The
    nesting was checked first, so its recursive reader cannot overflow the stack.
    """
    if _has_huge_float(parsed):
        json_value_check(json.loads(body))
