"""Match published messages against SNS-style subscription filter policies.

A policy is a JSON object. A key ``payload.a.b`` addresses ``payload["a"]["b"]``
(dotted path, no list indexes); any other key names a message attribute. Each
value is a non-empty list of conditions (a bare condition counts as a list of
one). Every key must match (AND); a key matches when any condition does (OR)::

    {
        "region": ["eu-west-1", {"prefix": "us-"}],
        "payload.order.total": [{"numeric": [">", 0, "<=", 100]}],
        "payload.order.coupon": [{"exists": False}],
    }

Conditions: exact ``"s"``/``5``/``true``/``null``; ``{"prefix": "s"}``;
``{"suffix": "s"}``; ``{"equals-ignore-case": "s"}``; ``{"numeric": [">", 0,
"<=", 100]}``; ``{"exists": bool}``; ``{"anything-but": X}`` where X is a
scalar, a list of scalars or ``{"prefix": "s"}``. An absent key matches only
``{"exists": false}``. A list payload value matches when any element does.
Attribute values are strings: number conditions match those that parse as a
finite number equal to them; booleans and null never match them.

The module is one compiler for one small grammar, kept whole on purpose (~350 lines):
each condition's validation and its compiled predicate sit together, and splitting the
conditions from the keys that combine them would make a reader open two files for one
rule. From Switchboard it imports only the error base, apps.core.errors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Final, TypeGuard

from apps.core.errors import SwitchboardError

__all__ = [
    "MAX_FILTER_POLICY_VALUES",
    "CompiledFilterPolicy",
    "FilterPolicyError",
    "compile_filter_policy",
    "filter_policy_matches",
    "validate_filter_policy",
]

MAX_FILTER_POLICY_VALUES: Final = 150
PAYLOAD_PREFIX: Final = "payload."
OPERATORS: Final = ("anything-but", "equals-ignore-case", "exists", "numeric", "prefix", "suffix")
NUMERIC_OPERATORS: Final = ("=", "<", "<=", ">", ">=")

_INTEGER_RE: Final = re.compile(r"[+-]?[0-9]+")
_DECIMAL_RE: Final = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_JSON_TYPES: Final = (
    (type(None), "null"),
    (bool, "boolean"),
    ((int, float), "number"),
    (str, "string"),
    (list, "array"),
    (Mapping, "object"),
)

Predicate = Callable[[object], bool]


class FilterPolicyError(SwitchboardError, ValueError):
    """A filter policy that is not valid; `path` names the offending part, e.g. 'region[1].numeric'."""

    status = 400
    code = "invalid-filter-policy"
    title = "Invalid filter policy"

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def _json_type(value: object) -> str:
    """Return the JSON name of `value`'s type, for error messages."""
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _is_number(value: object) -> TypeGuard[int | float]:
    """Return whether `value` is a finite JSON number (booleans excluded)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _parse_number(text: str) -> int | float | None:
    """Return the finite number an attribute string spells, or None."""
    try:
        if _INTEGER_RE.fullmatch(text):
            return int(text)
        if _DECIMAL_RE.fullmatch(text) and math.isfinite(number := float(text)):
            return number
    except ValueError:  # More digits than int() accepts.
        pass
    return None


def _as_number(value: object, from_attribute: bool) -> int | float | None:
    """Return `value` as a number if numeric conditions may compare it, else None."""
    if from_attribute:
        return _parse_number(value) if isinstance(value, str) else None
    return value if _is_number(value) else None


def _check_scalar(value: object, path: str) -> None:
    """Raise FilterPolicyError unless `value` is a valid exact value."""
    if not (value is None or isinstance(value, (str, bool)) or _is_number(value)):
        kind = "a non-finite number" if isinstance(value, float) else _json_type(value)
        message = f"expected a string, finite number, boolean or null, not {kind}"
        raise FilterPolicyError(message, path=path)


def _require_string(value: object, path: str) -> str:
    """Return `value` if it is a string; raise FilterPolicyError otherwise."""
    if not isinstance(value, str):
        message = f"expected a string, not {_json_type(value)}"
        raise FilterPolicyError(message, path=path)
    return value


class _Literals:
    """Hold exact values, grouped by type for constant-time lookup."""

    __slots__ = ("bools", "from_attribute", "null", "numbers", "strings")

    def __init__(self, values: Iterable[object], from_attribute: bool) -> None:
        values = list(values)
        self.strings = frozenset(v for v in values if isinstance(v, str))
        self.numbers = frozenset(v for v in values if _is_number(v))
        self.bools = frozenset(v for v in values if isinstance(v, bool))
        self.null = None in values
        self.from_attribute = from_attribute

    def contains(self, value: object) -> bool:
        """Return whether `value` equals one of the exact values."""
        if isinstance(value, str):
            if value in self.strings:
                return True
            return self.from_attribute and bool(self.numbers) and _parse_number(value) in self.numbers
        if isinstance(value, bool):
            return value in self.bools
        if isinstance(value, (int, float)):
            return value in self.numbers
        return value is None and self.null


def _compile_numeric(operand: object, path: str, from_attribute: bool) -> Predicate:
    """Return the predicate for a `numeric` operand such as ['>', 0, '<=', 100]."""
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        message = "expected one or two comparisons, e.g. ['>', 0, '<=', 100]"
        raise FilterPolicyError(message, path=path)
    lower, upper = -math.inf, math.inf
    lower_inclusive = upper_inclusive = False
    for index in range(0, len(operand), 2):
        operator, number = operand[index], operand[index + 1]
        if not isinstance(operator, str) or operator not in NUMERIC_OPERATORS:
            allowed = ", ".join(NUMERIC_OPERATORS)
            message = f"unknown numeric operator {operator!r}; allowed: {allowed}"
            raise FilterPolicyError(message, path=f"{path}[{index}]")
        if not _is_number(number):
            message = f"expected a finite number, not {_json_type(number)}"
            raise FilterPolicyError(message, path=f"{path}[{index + 1}]")
        if operator in ("=", ">", ">="):
            lower, lower_inclusive = number, operator != ">"
        if operator in ("=", "<", "<="):
            upper, upper_inclusive = number, operator != "<"
    if len(operand) == 4:
        if operand[0] not in (">", ">=") or operand[2] not in ("<", "<="):
            message = "a range needs a lower bound ('>', '>=') then an upper bound ('<', '<=')"
            raise FilterPolicyError(message, path=path)
        if lower > upper or (lower == upper and not (lower_inclusive and upper_inclusive)):
            raise FilterPolicyError("this range can never match", path=path)

    def predicate(value: object) -> bool:
        number = _as_number(value, from_attribute)
        if number is None:
            return False
        above = number >= lower if lower_inclusive else number > lower
        return above and (number <= upper if upper_inclusive else number < upper)

    return predicate


def _compile_anything_but(operand: object, path: str, from_attribute: bool) -> Predicate:
    """Return the predicate for an `anything-but` operand."""
    if isinstance(operand, Mapping):
        if list(operand) != ["prefix"]:
            message = "expected a value, a list of values or {'prefix': <string>}"
            raise FilterPolicyError(message, path=path)
        prefix = _require_string(operand["prefix"], f"{path}.prefix")
        return lambda value: isinstance(value, str) and not value.startswith(prefix)
    if not isinstance(operand, list):
        _check_scalar(operand, path)
        operand = [operand]
    elif not operand:
        raise FilterPolicyError("expected at least one value", path=path)
    for index, item in enumerate(operand):
        _check_scalar(item, f"{path}[{index}]")
    literals = _Literals(operand, from_attribute)
    return lambda value: not literals.contains(value)


def _compile_string(operator: str, text: str) -> Predicate:
    """Return the predicate for a `prefix`, `suffix` or `equals-ignore-case` operand."""
    if operator == "prefix":
        return lambda value: isinstance(value, str) and value.startswith(text)
    if operator == "suffix":
        return lambda value: isinstance(value, str) and value.endswith(text)
    folded = text.casefold()
    return lambda value: isinstance(value, str) and value.casefold() == folded


def _count_values(condition: object) -> int:
    """Return how many values a (valid) condition holds, toward the size limit."""
    if not isinstance(condition, Mapping):
        return 1
    [operand] = condition.values()
    if isinstance(operand, list):
        return len(operand) // 2 if "numeric" in condition else len(operand)
    return 1


class _Key:
    """Match one policy key: a message attribute or a payload path."""

    __slots__ = ("absent_ok", "literals", "name", "predicates", "present_ok", "segments")

    def __init__(self, name: str, conditions: list[object], path: str | None) -> None:
        self.name = name
        self.segments = None
        if name.startswith(PAYLOAD_PREFIX):
            self.segments = tuple(name.removeprefix(PAYLOAD_PREFIX).split("."))
            if not all(self.segments):
                message = "payload paths must not have empty segments"
                raise FilterPolicyError(message, path=name)
        self.absent_ok = self.present_ok = False
        self.predicates: list[Predicate] = []
        exact = []
        for index, condition in enumerate(conditions):
            where = f"{name}[{index}]" if path is None else path
            if isinstance(condition, list):
                message = "conditions cannot be nested arrays"
                raise FilterPolicyError(message, path=where)
            if isinstance(condition, Mapping):
                self._add_operator(condition, where)
            else:
                _check_scalar(condition, where)
                exact.append(condition)
        self.literals = _Literals(exact, from_attribute=self.segments is None)

    def _add_operator(self, condition: Mapping[object, object], path: str) -> None:
        """Compile one operator condition such as {"prefix": "eu-"}."""
        if len(condition) != 1:
            message = f"expected exactly one operator, got {len(condition)}"
            raise FilterPolicyError(message, path=path)
        [(operator, operand)] = condition.items()
        path = f"{path}.{operator}"
        from_attribute = self.segments is None
        if operator == "exists":
            if not isinstance(operand, bool):
                message = f"expected true or false, not {_json_type(operand)}"
                raise FilterPolicyError(message, path=path)
            self.present_ok |= operand
            self.absent_ok |= not operand
        elif operator == "numeric":
            self.predicates.append(_compile_numeric(operand, path, from_attribute))
        elif operator == "anything-but":
            self.predicates.append(_compile_anything_but(operand, path, from_attribute))
        elif operator in ("prefix", "suffix", "equals-ignore-case"):
            text = _require_string(operand, path)
            self.predicates.append(_compile_string(str(operator), text))
        else:
            message = (
                f"unknown operator {operator!r}; allowed operators: {', '.join(OPERATORS)}"
                " (match nested payload fields with a dotted 'payload.' key)"
            )
            raise FilterPolicyError(message, path=path)

    def matches(self, attributes: Mapping[str, str], payload: object) -> bool:
        """Return whether the message satisfies any of this key's conditions."""
        value: object = payload
        if self.segments is None:
            if self.name not in attributes:
                return self.absent_ok
            value = attributes[self.name]
        else:
            for segment in self.segments:
                if not isinstance(value, Mapping) or segment not in value:
                    return self.absent_ok
                value = value[segment]
        if self.present_ok:
            return True
        items = value if self.segments and isinstance(value, list) else (value,)
        return any(self.literals.contains(item) or any(test(item) for test in self.predicates) for item in items)


class CompiledFilterPolicy:
    """A validated filter policy, ready to match messages quickly."""

    __slots__ = ("_keys",)

    def __init__(self, keys: tuple[_Key, ...]) -> None:
        self._keys = keys

    def matches(self, *, attributes: Mapping[str, str], payload: object) -> bool:
        """Return whether a message with these attributes and payload passes the policy."""
        return all(key.matches(attributes, payload) for key in self._keys)


def _compile(policy: object) -> CompiledFilterPolicy:
    """Validate `policy` and return its matcher; raise FilterPolicyError if not valid."""
    if policy is None:
        return CompiledFilterPolicy(())
    if not isinstance(policy, Mapping):
        message = f"a filter policy must be an object, not {_json_type(policy)}"
        raise FilterPolicyError(message, path="")
    keys = []
    total = 0
    for name, conditions in policy.items():
        if not isinstance(name, str) or not name:
            raise FilterPolicyError("keys must be non-empty strings", path=str(name))
        if isinstance(conditions, list):
            if not conditions:
                raise FilterPolicyError("expected at least one condition", path=name)
            keys.append(_Key(name, conditions, path=None))
        else:
            keys.append(_Key(name, [conditions], path=name))
            conditions = [conditions]
        total += sum(_count_values(condition) for condition in conditions)
    if total > MAX_FILTER_POLICY_VALUES:
        message = f"the policy has {total} values; at most {MAX_FILTER_POLICY_VALUES} are allowed"
        raise FilterPolicyError(message, path="")
    return CompiledFilterPolicy(tuple(keys))


def compile_filter_policy(policy: Mapping[str, object] | None) -> CompiledFilterPolicy:
    """Validate and return a matcher (precompile conditions once, since it runs on every publish)."""
    return _compile(policy)


def validate_filter_policy(policy: object) -> None:
    """Raise FilterPolicyError naming the offending part if `policy` is not a valid policy."""
    _compile(policy)


def filter_policy_matches(
    policy: Mapping[str, object] | None,
    *,
    attributes: Mapping[str, str],
    payload: object,
) -> bool:
    """Compile `policy` and match one message (use compile_filter_policy on hot paths)."""
    return compile_filter_policy(policy).matches(attributes=attributes, payload=payload)
