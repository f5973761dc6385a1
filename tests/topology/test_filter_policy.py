"""Tests for apps.topology.filter_policy (pure Python, no database)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from apps.topology.filter_policy import (
    MAX_FILTER_POLICY_VALUES,
    CompiledFilterPolicy,
    FilterPolicyError,
    compile_filter_policy,
    filter_policy_matches,
    validate_filter_policy,
)


def match(policy: Any, attributes: dict[str, str] | None = None, payload: object = None) -> bool:
    return filter_policy_matches(policy, attributes=attributes or {}, payload=payload)


def error_of(policy: Any) -> FilterPolicyError:
    with pytest.raises(FilterPolicyError) as info:
        validate_filter_policy(policy)
    return info.value


# Empty policies and the public API.


@pytest.mark.parametrize("policy", [None, {}])
def test_empty_policy_matches_everything(policy: Any) -> None:
    assert match(policy) is True
    assert match(policy, {"region": "eu"}, {"a": [1, 2]}) is True


def test_compile_returns_reusable_matcher() -> None:
    compiled = compile_filter_policy({"region": ["eu"]})
    assert isinstance(compiled, CompiledFilterPolicy)
    assert compiled.matches(attributes={"region": "eu"}, payload=None) is True
    assert compiled.matches(attributes={"region": "us"}, payload=None) is False
    assert compiled.matches(attributes={"region": "eu"}, payload={}) is True


def test_error_is_value_error_with_message_and_path() -> None:
    with pytest.raises(ValueError, match=r"^expected at least one condition$") as info:
        compile_filter_policy({"region": []})
    assert isinstance(info.value, FilterPolicyError)
    assert info.value.path == "region"
    assert info.value.message == "expected at least one condition"
    assert str(info.value) == "expected at least one condition"


def test_validate_accepts_valid_policy() -> None:
    policy = {
        "region": ["eu", {"prefix": "us-"}, {"suffix": "-1"}, {"exists": False}],
        "payload.order.total": {"numeric": [">", 0, "<=", 100]},
        "payload.order.state": {"anything-but": ["cancelled", "void"]},
        "payload.flag": [True, None, 3.5, {"equals-ignore-case": "YES"}],
        "kind": {"anything-but": {"prefix": "internal."}},
    }
    validate_filter_policy(policy)


# Exact matching.


def test_exact_string_on_attribute() -> None:
    assert match({"region": ["eu-west-1"]}, {"region": "eu-west-1"}) is True
    assert match({"region": ["eu-west-1"]}, {"region": "eu-west-2"}) is False
    assert match({"region": ["eu-west-1"]}, {"region": "EU-WEST-1"}) is False


def test_bare_scalar_is_one_element_list() -> None:
    assert match({"region": "eu"}, {"region": "eu"}) is True
    assert match({"region": "eu"}, {"region": "us"}) is False
    assert match({"payload.n": 5}, payload={"n": 5}) is True


def test_bare_condition_object_is_one_element_list() -> None:
    assert match({"region": {"prefix": "eu"}}, {"region": "eu-1"}) is True
    assert match({"region": {"prefix": "eu"}}, {"region": "us-1"}) is False


def test_exact_number_on_payload_compares_numerically() -> None:
    assert match({"payload.n": [5]}, payload={"n": 5.0}) is True
    assert match({"payload.n": [5.0]}, payload={"n": 5}) is True
    assert match({"payload.n": [5]}, payload={"n": 6}) is False
    assert match({"payload.n": [0.1]}, payload={"n": 0.1}) is True


def test_exact_string_and_number_never_cross_match_in_payload() -> None:
    assert match({"payload.n": [5]}, payload={"n": "5"}) is False
    assert match({"payload.n": ["5"]}, payload={"n": 5}) is False


def test_exact_number_on_attribute_parses_the_string() -> None:
    assert match({"count": [5]}, {"count": "5"}) is True
    assert match({"count": [5]}, {"count": "5.0"}) is True
    assert match({"count": [5]}, {"count": "5e0"}) is True
    assert match({"count": [5]}, {"count": "+5"}) is True
    assert match({"count": [0.5]}, {"count": ".5"}) is True
    assert match({"count": [5]}, {"count": "6"}) is False
    assert match({"count": [5]}, {"count": "five"}) is False


@pytest.mark.parametrize("text", ["", " 5", "5 ", "5_0", "0x5", "nan", "inf", "1e999", "\u0665"])
def test_attribute_strings_that_are_not_plain_finite_numbers(text: str) -> None:
    assert match({"count": [5]}, {"count": text}) is False
    assert match({"count": {"numeric": [">", -1e300]}}, {"count": text}) is False


def test_large_integer_attribute_compares_exactly() -> None:
    big = 10**25 + 1
    assert match({"count": [big]}, {"count": str(big)}) is True
    assert match({"count": [big]}, {"count": str(big - 1)}) is False


def test_string_condition_on_numeric_looking_attribute_compares_text() -> None:
    assert match({"count": ["5"]}, {"count": "5"}) is True
    assert match({"count": ["5"]}, {"count": "5.0"}) is False


def test_bool_and_null_on_payload() -> None:
    assert match({"payload.ok": [True]}, payload={"ok": True}) is True
    assert match({"payload.ok": [True]}, payload={"ok": False}) is False
    assert match({"payload.ok": [True]}, payload={"ok": 1}) is False
    assert match({"payload.n": [1]}, payload={"n": True}) is False
    assert match({"payload.ok": [False]}, payload={"ok": 0}) is False
    assert match({"payload.x": [None]}, payload={"x": None}) is True
    assert match({"payload.x": [None]}, payload={"x": "null"}) is False
    assert match({"payload.x": [None]}, payload={}) is False


def test_bool_and_null_never_match_attributes() -> None:
    assert match({"flag": [True]}, {"flag": "true"}) is False
    assert match({"flag": [True]}, {"flag": "True"}) is False
    assert match({"flag": [None]}, {"flag": ""}) is False
    assert match({"flag": [None]}, {"flag": "null"}) is False


def test_exact_never_matches_object_value() -> None:
    assert match({"payload.order": ["x"]}, payload={"order": {"x": 1}}) is False


# Operators.


def test_prefix() -> None:
    assert match({"region": [{"prefix": "eu-"}]}, {"region": "eu-west-1"}) is True
    assert match({"region": [{"prefix": "eu-"}]}, {"region": "us-east-1"}) is False
    assert match({"region": [{"prefix": "eu-"}]}, {"region": "EU-west"}) is False
    assert match({"payload.r": [{"prefix": "1"}]}, payload={"r": 12}) is False
    assert match({"payload.r": [{"prefix": "eu"}]}, payload={"r": "eu"}) is True


def test_suffix() -> None:
    assert match({"file": [{"suffix": ".png"}]}, {"file": "cat.png"}) is True
    assert match({"file": [{"suffix": ".png"}]}, {"file": "cat.jpg"}) is False
    assert match({"file": [{"suffix": ".png"}]}, {"file": "png"}) is False
    assert match({"payload.f": [{"suffix": "5"}]}, payload={"f": 5}) is False


def test_equals_ignore_case() -> None:
    policy = {"region": [{"equals-ignore-case": "EU"}]}
    assert match(policy, {"region": "eu"}) is True
    assert match(policy, {"region": "Eu"}) is True
    assert match(policy, {"region": "EU"}) is True
    assert match(policy, {"region": "eu-1"}) is False
    assert match({"s": [{"equals-ignore-case": "STRASSE"}]}, {"s": "straße"}) is True
    assert match({"payload.x": [{"equals-ignore-case": "1"}]}, payload={"x": 1}) is False


@pytest.mark.parametrize(
    ("comparison", "matching", "failing"),
    [
        (["=", 5], [5, 5.0], [4.99, 6]),
        (["<", 5], [4.99, -1000], [5, 6]),
        (["<=", 5], [5, -1], [5.01]),
        ([">", 5], [5.01, 1000], [5, 0]),
        ([">=", 5], [5, 6], [4.99]),
        ([">", 0, "<=", 100], [0.001, 50, 100], [0, -1, 100.5]),
        ([">=", 0, "<", 100], [0, 99.9], [-0.1, 100]),
        ([">=", 7, "<=", 7], [7], [6.9, 7.1]),
    ],
)
def test_numeric(comparison: list[Any], matching: list[float], failing: list[float]) -> None:
    payload_policy = {"payload.n": [{"numeric": comparison}]}
    attribute_policy = {"n": [{"numeric": comparison}]}
    for number in matching:
        assert match(payload_policy, payload={"n": number}) is True
        assert match(attribute_policy, {"n": repr(number)}) is True
    for number in failing:
        assert match(payload_policy, payload={"n": number}) is False
        assert match(attribute_policy, {"n": repr(number)}) is False


def test_numeric_requires_a_number() -> None:
    policy = {"payload.n": [{"numeric": [">", 0]}]}
    assert match(policy, payload={"n": "5"}) is False
    assert match(policy, payload={"n": True}) is False
    assert match(policy, payload={"n": None}) is False
    assert match(policy, payload={"n": float("inf")}) is False
    assert match(policy, payload={"n": float("nan")}) is False
    assert match({"n": [{"numeric": [">", 0]}]}, {"n": "abc"}) is False


def test_exists_true() -> None:
    assert match({"region": [{"exists": True}]}, {"region": ""}) is True
    assert match({"region": [{"exists": True}]}, {"other": "x"}) is False
    assert match({"payload.a.b": [{"exists": True}]}, payload={"a": {"b": None}}) is True
    assert match({"payload.a.b": [{"exists": True}]}, payload={"a": {"b": []}}) is True
    assert match({"payload.a.b": [{"exists": True}]}, payload={"a": {}}) is False
    assert match({"payload.a.b": [{"exists": True}]}, payload={"a": 1}) is False
    assert match({"payload.a.b": [{"exists": True}]}, payload={"a": [{"b": 1}]}) is False


def test_exists_false() -> None:
    assert match({"region": [{"exists": False}]}, {"other": "x"}) is True
    assert match({"region": [{"exists": False}]}, {"region": "eu"}) is False
    assert match({"payload.a.b": [{"exists": False}]}, payload={"a": {}}) is True
    assert match({"payload.a.b": [{"exists": False}]}, payload=None) is True
    assert match({"payload.a.b": [{"exists": False}]}, payload={"a": {"b": None}}) is False


def test_anything_but_scalar() -> None:
    policy = {"state": [{"anything-but": "cancelled"}]}
    assert match(policy, {"state": "paid"}) is True
    assert match(policy, {"state": "cancelled"}) is False
    assert match(policy, {}) is False


def test_anything_but_list() -> None:
    policy = {"payload.state": [{"anything-but": ["cancelled", "void", 0]}]}
    assert match(policy, payload={"state": "paid"}) is True
    assert match(policy, payload={"state": 1}) is True
    assert match(policy, payload={"state": None}) is True
    assert match(policy, payload={"state": {"nested": 1}}) is True
    assert match(policy, payload={"state": "void"}) is False
    assert match(policy, payload={"state": 0.0}) is False
    assert match(policy, payload={"state": False}) is True
    assert match(policy, payload={}) is False


def test_anything_but_number_on_attribute_compares_numerically() -> None:
    policy = {"count": [{"anything-but": [5]}]}
    assert match(policy, {"count": "5.0"}) is False
    assert match(policy, {"count": "6"}) is True
    assert match(policy, {"count": "five"}) is True


def test_anything_but_null() -> None:
    assert match({"payload.x": {"anything-but": None}}, payload={"x": None}) is False
    assert match({"payload.x": {"anything-but": None}}, payload={"x": 0}) is True


def test_anything_but_prefix() -> None:
    policy = {"kind": [{"anything-but": {"prefix": "internal."}}]}
    assert match(policy, {"kind": "order.created"}) is True
    assert match(policy, {"kind": "internal.ping"}) is False
    assert match(policy, {}) is False
    assert match({"payload.k": {"anything-but": {"prefix": "a"}}}, payload={"k": 1}) is False


# Keys, missing values and arrays.


def test_attribute_and_payload_keys_are_distinct() -> None:
    assert match({"region": ["eu"]}, {}, {"region": "eu"}) is False
    assert match({"payload.region": ["eu"]}, {"region": "eu"}, {}) is False
    assert match({"payload.region": ["eu"]}, {}, {"region": "eu"}) is True


def test_payload_key_without_dot_is_an_attribute() -> None:
    assert match({"payload": ["x"]}, {"payload": "x"}, {"payload": "y"}) is True


def test_nested_payload_path() -> None:
    payload = {"order": {"customer": {"tier": "gold"}, "total": 42}}
    assert match({"payload.order.customer.tier": ["gold"]}, payload=payload) is True
    assert match({"payload.order.customer.tier": ["silver"]}, payload=payload) is False
    assert match({"payload.order.total": [{"numeric": [">", 40]}]}, payload=payload) is True


def test_payload_path_through_non_object_is_absent() -> None:
    assert match({"payload.a.b": ["x"]}, payload={"a": "x"}) is False
    assert match({"payload.a.b": ["x"]}, payload={"a": ["x"]}) is False
    assert match({"payload.a": ["x"]}, payload=["x"]) is False
    assert match({"payload.a": ["x"]}, payload="x") is False
    assert match({"payload.0": ["x"]}, payload=["x"]) is False


def test_missing_key_matches_only_exists_false() -> None:
    conditions: list[Any] = [
        "x",
        None,
        0,
        {"prefix": ""},
        {"suffix": ""},
        {"numeric": [">", -1e300]},
        {"exists": True},
        {"anything-but": "x"},
        {"anything-but": {"prefix": "x"}},
        {"equals-ignore-case": ""},
    ]
    for condition in conditions:
        assert match({"region": [condition]}, {}, {}) is False
        assert match({"payload.region": [condition]}, {}, {}) is False
    assert match({"region": ["x", {"exists": False}]}, {}, {}) is True


def test_array_payload_matches_any_element() -> None:
    payload = {"tags": ["red", "green", 3]}
    assert match({"payload.tags": ["green"]}, payload=payload) is True
    assert match({"payload.tags": ["blue"]}, payload=payload) is False
    assert match({"payload.tags": [{"prefix": "gr"}]}, payload=payload) is True
    assert match({"payload.tags": [{"numeric": [">", 2]}]}, payload=payload) is True
    assert match({"payload.tags": [{"anything-but": "red"}]}, payload=payload) is True
    assert match({"payload.tags": [{"anything-but": "red"}]}, payload={"tags": ["red"]}) is False


def test_empty_array_payload() -> None:
    assert match({"payload.tags": ["red"]}, payload={"tags": []}) is False
    assert match({"payload.tags": [{"anything-but": "red"}]}, payload={"tags": []}) is False
    assert match({"payload.tags": [{"exists": True}]}, payload={"tags": []}) is True


def test_and_across_keys_or_within_key() -> None:
    policy = {
        "region": ["eu-west-1", {"prefix": "us-"}],
        "payload.order.total": [{"numeric": [">", 100]}, {"numeric": ["<", 0]}],
    }
    assert match(policy, {"region": "eu-west-1"}, {"order": {"total": 150}}) is True
    assert match(policy, {"region": "us-east-2"}, {"order": {"total": -5}}) is True
    assert match(policy, {"region": "ap-south-1"}, {"order": {"total": 150}}) is False
    assert match(policy, {"region": "eu-west-1"}, {"order": {"total": 50}}) is False
    assert match(policy, {"region": "eu-west-1"}, {}) is False


def test_exists_mixed_with_other_conditions() -> None:
    policy = {"region": [{"exists": False}, "eu"]}
    assert match(policy, {}) is True
    assert match(policy, {"region": "eu"}) is True
    assert match(policy, {"region": "us"}) is False
    assert match({"region": [{"exists": True}, {"exists": False}]}, {}) is True


# Validation errors.


@pytest.mark.parametrize(
    ("policy", "path", "message"),
    [
        ([], "", "a filter policy must be an object, not array"),
        ("region", "", "a filter policy must be an object, not string"),
        ({"": ["x"]}, "", "keys must be non-empty strings"),
        ({1: ["x"]}, "1", "keys must be non-empty strings"),
        ({"payload.": ["x"]}, "payload.", "payload paths must not have empty segments"),
        (
            {"payload.a..b": ["x"]},
            "payload.a..b",
            "payload paths must not have empty segments",
        ),
        (
            {"payload.a.": ["x"]},
            "payload.a.",
            "payload paths must not have empty segments",
        ),
        ({"region": []}, "region", "expected at least one condition"),
        ({"region": ["a", ["b"]]}, "region[1]", "conditions cannot be nested arrays"),
        (
            {"region": ["a", {1, 2}]},
            "region[1]",
            "expected a string, finite number, boolean or null, not set",
        ),
        (
            {"payload.n": [float("nan")]},
            "payload.n[0]",
            "expected a string, finite number, boolean or null, not a non-finite number",
        ),
        (
            {"payload.n": float("inf")},
            "payload.n",
            "expected a string, finite number, boolean or null, not a non-finite number",
        ),
        ({"region": [{}]}, "region[0]", "expected exactly one operator, got 0"),
        (
            {"region": [{"prefix": "a", "suffix": "b"}]},
            "region[0]",
            "expected exactly one operator, got 2",
        ),
        (
            {"region": [{"prefix": 1}]},
            "region[0].prefix",
            "expected a string, not number",
        ),
        ({"region": {"suffix": None}}, "region.suffix", "expected a string, not null"),
        (
            {"region": [{"equals-ignore-case": ["a"]}]},
            "region[0].equals-ignore-case",
            "expected a string, not array",
        ),
        (
            {"region": [{"exists": "yes"}]},
            "region[0].exists",
            "expected true or false, not string",
        ),
        (
            {"region": [{"exists": 1}]},
            "region[0].exists",
            "expected true or false, not number",
        ),
        (
            {"n": [{"numeric": 5}]},
            "n[0].numeric",
            "expected one or two comparisons, e.g. ['>', 0, '<=', 100]",
        ),
        (
            {"n": [{"numeric": []}]},
            "n[0].numeric",
            "expected one or two comparisons, e.g. ['>', 0, '<=', 100]",
        ),
        (
            {"n": [{"numeric": [">", 1, "<"]}]},
            "n[0].numeric",
            "expected one or two comparisons, e.g. ['>', 0, '<=', 100]",
        ),
        (
            {"n": [{"numeric": [">", 0, "<", 5, "<", 9]}]},
            "n[0].numeric",
            "expected one or two comparisons, e.g. ['>', 0, '<=', 100]",
        ),
        (
            {"n": [{"numeric": ["!=", 5]}]},
            "n[0].numeric[0]",
            "unknown numeric operator '!='; allowed: =, <, <=, >, >=",
        ),
        (
            {"n": [{"numeric": [">", 0, "=>", 5]}]},
            "n[0].numeric[2]",
            "unknown numeric operator '=>'; allowed: =, <, <=, >, >=",
        ),
        (
            {"n": [{"numeric": [5, ">"]}]},
            "n[0].numeric[0]",
            "unknown numeric operator 5; allowed: =, <, <=, >, >=",
        ),
        (
            {"n": [{"numeric": [">", "5"]}]},
            "n[0].numeric[1]",
            "expected a finite number, not string",
        ),
        (
            {"n": [{"numeric": [">", True]}]},
            "n[0].numeric[1]",
            "expected a finite number, not boolean",
        ),
        (
            {"n": [{"numeric": [">", 0, "<", float("inf")]}]},
            "n[0].numeric[3]",
            "expected a finite number, not number",
        ),
        (
            {"n": [{"numeric": ["<", 10, ">", 5]}]},
            "n[0].numeric",
            "a range needs a lower bound ('>', '>=') then an upper bound ('<', '<=')",
        ),
        (
            {"n": [{"numeric": ["=", 10, "<", 50]}]},
            "n[0].numeric",
            "a range needs a lower bound ('>', '>=') then an upper bound ('<', '<=')",
        ),
        (
            {"n": [{"numeric": [">", 10, "<", 5]}]},
            "n[0].numeric",
            "this range can never match",
        ),
        (
            {"n": [{"numeric": [">", 5, "<=", 5]}]},
            "n[0].numeric",
            "this range can never match",
        ),
        (
            {"n": [{"numeric": [">=", 5, "<", 5]}]},
            "n[0].numeric",
            "this range can never match",
        ),
        (
            {"s": [{"anything-but": []}]},
            "s[0].anything-but",
            "expected at least one value",
        ),
        (
            {"s": [{"anything-but": ["a", {"b": 1}]}]},
            "s[0].anything-but[1]",
            "expected a string, finite number, boolean or null, not object",
        ),
        (
            {"s": [{"anything-but": ["a", ["b"]]}]},
            "s[0].anything-but[1]",
            "expected a string, finite number, boolean or null, not array",
        ),
        (
            {"s": [{"anything-but": {"suffix": "x"}}]},
            "s[0].anything-but",
            "expected a value, a list of values or {'prefix': <string>}",
        ),
        (
            {"s": [{"anything-but": {"prefix": "x", "suffix": "y"}}]},
            "s[0].anything-but",
            "expected a value, a list of values or {'prefix': <string>}",
        ),
        (
            {"s": [{"anything-but": {"prefix": 3}}]},
            "s[0].anything-but.prefix",
            "expected a string, not number",
        ),
    ],
)
def test_validation_errors(policy: Any, path: str, message: str) -> None:
    error = error_of(policy)
    assert (error.path, error.message) == (path, message)
    with pytest.raises(FilterPolicyError):
        compile_filter_policy(policy)


def test_unknown_operator_names_it_and_lists_allowed_operators() -> None:
    error = error_of({"region": ["a", {"prefixx": "a"}]})
    assert error.path == "region[1].prefixx"
    assert error.message == (
        "unknown operator 'prefixx'; allowed operators: anything-but, "
        "equals-ignore-case, exists, numeric, prefix, suffix "
        "(match nested payload fields with a dotted 'payload.' key)"
    )


def test_nested_object_as_exact_value_is_rejected() -> None:
    error = error_of({"payload.order": [{"total": 5}]})
    assert error.path == "payload.order[0].total"
    assert error.message.startswith("unknown operator 'total'; ")
    assert error_of({"payload": {"order": {"total": [5]}}}).path == "payload.order"


def test_first_error_wins_in_policy_order() -> None:
    assert error_of({"a": ["ok"], "b": [], "c": [{"x": 1}]}).path == "b"


def test_size_limit_counts_values_across_policy() -> None:
    half = MAX_FILTER_POLICY_VALUES // 2
    policy = {"a": [str(i) for i in range(half)], "b": list(range(half))}
    validate_filter_policy(policy)
    policy["c"] = ["one too many"]
    error = error_of(policy)
    assert error.path == ""
    assert error.message == "the policy has 151 values; at most 150 are allowed"


def test_size_limit_counts_each_numeric_bound_and_anything_but_value() -> None:
    ranges = [{"numeric": [">", i, "<", i + 1]} for i in range(75)]
    validate_filter_policy({"n": ranges})
    error = error_of({"n": ranges, "s": {"anything-but": ["a"]}})
    assert error.message == "the policy has 151 values; at most 150 are allowed"
    validate_filter_policy({"s": {"anything-but": ["v"] * 150}})
    assert error_of({"s": {"anything-but": ["v"] * 151}}).path == ""


# Property-based tests.

names = st.text(min_size=1, max_size=10).filter(lambda n: not n.startswith("payload."))
segments = st.from_regex(r"[a-z_][a-z0-9_]{0,7}", fullmatch=True)
numbers = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
payload_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(segments, scalars, max_size=2),
)


@st.composite
def numeric_conditions(draw: st.DrawFn) -> dict[str, list[Any]]:
    if draw(st.booleans()):
        return {
            "numeric": [
                draw(st.sampled_from(["=", "<", "<=", ">", ">="])),
                draw(numbers),
            ]
        }
    low, high = sorted([draw(numbers), draw(numbers)])
    lower = draw(st.sampled_from([">", ">="]))
    upper = draw(st.sampled_from(["<", "<="]))
    if low == high:
        lower, upper = ">=", "<="
    return {"numeric": [lower, low, upper, high]}


conditions = st.one_of(
    scalars,
    st.builds(lambda s: {"prefix": s}, st.text(max_size=4)),
    st.builds(lambda s: {"suffix": s}, st.text(max_size=4)),
    st.builds(lambda s: {"equals-ignore-case": s}, st.text(max_size=4)),
    numeric_conditions(),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.builds(lambda v: {"anything-but": v}, scalars),
    st.builds(lambda v: {"anything-but": v}, st.lists(scalars, min_size=1, max_size=3)),
    st.builds(lambda s: {"anything-but": {"prefix": s}}, st.text(max_size=4)),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
)


@given(st.dictionaries(names, st.text(max_size=10), max_size=10))
def test_exact_policy_from_own_attributes_matches(attributes: dict[str, str]) -> None:
    policy = {name: [value] for name, value in attributes.items()}
    assert match(policy, attributes) is True


@given(st.dictionaries(segments, scalars, max_size=10))
def test_exact_policy_from_own_payload_fields_matches(fields: dict[str, Any]) -> None:
    policy = {f"payload.wrapper.{name}": [value] for name, value in fields.items()}
    assert match(policy, payload={"wrapper": fields}) is True


@given(names, st.text(max_size=10), st.text(max_size=10))
def test_anything_but_string_on_attribute(name: str, excluded: str, value: str) -> None:
    assert match({name: {"anything-but": excluded}}, {name: excluded}) is False
    assert match({name: {"anything-but": excluded}}, {name: value}) is (value != excluded)


@given(scalars, st.lists(scalars, max_size=3))
def test_anything_but_never_matches_an_excluded_payload_value(value: Any, others: list[Any]) -> None:
    policy = {"payload.x": {"anything-but": [*others, value]}}
    assert match(policy, payload={"x": value}) is False


@given(numbers, numbers, numbers)
def test_numeric_range_matches_exactly_between_bounds(a: float, b: float, x: float) -> None:
    low, high = sorted([a, b])
    policy_for = {"payload.x": {"numeric": [">=", low, "<=", high]}}
    expected = low <= x <= high
    assert match(policy_for, payload={"x": x}) is expected
    assert match({"x": {"numeric": [">=", low, "<=", high]}}, {"x": repr(x)}) is expected


@given(numbers, numbers)
def test_numeric_single_comparisons_agree_with_python(bound: float, x: float) -> None:
    for operator, expected in [
        ("=", x == bound),
        ("<", x < bound),
        ("<=", x <= bound),
        (">", x > bound),
        (">=", x >= bound),
    ]:
        assert match({"payload.x": {"numeric": [operator, bound]}}, payload={"x": x}) is expected


@given(st.text(max_size=20), st.data())
def test_prefix_and_suffix_of_own_string_match(text: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    assert match({"s": {"prefix": text[:cut]}}, {"s": text}) is True
    assert match({"s": {"suffix": text[cut:]}}, {"s": text}) is True
    assert match({"s": {"anything-but": {"prefix": text[:cut]}}}, {"s": text}) is False


@given(st.from_regex(r"[A-Za-z0-9 -]{0,12}", fullmatch=True))
def test_equals_ignore_case_of_swapped_case_matches(text: str) -> None:
    assert match({"s": {"equals-ignore-case": text.swapcase()}}, {"s": text}) is True


@given(
    st.dictionaries(names, st.text(max_size=5), max_size=5),
    st.dictionaries(segments, payload_values, max_size=5),
    st.dictionaries(names, st.lists(conditions, min_size=1, max_size=3), max_size=3),
    names,
    conditions,
)
def test_added_absent_key_never_matches(
    attributes: dict[str, str],
    payload: dict[str, Any],
    policy: dict[str, Any],
    absent: str,
    condition: Any,
) -> None:
    assume(absent not in attributes and condition != {"exists": False})
    policy = {**policy, absent: [condition]}
    assert match(policy, attributes, payload) is False


@given(st.lists(conditions, min_size=1, max_size=5), payload_values, st.text(max_size=5))
def test_or_of_conditions_equals_any_of_single_condition_policies(
    conditions_: list[Any], value: Any, attribute: str
) -> None:
    for key, attributes, payload in [
        ("payload.x", {}, {"x": value}),
        ("payload.x", {}, {}),
        ("x", {"x": attribute}, None),
        ("x", {}, None),
    ]:
        combined = match({key: conditions_}, attributes, payload)
        assert combined is any(match({key: [c]}, attributes, payload) for c in conditions_)


@given(
    st.dictionaries(names, st.lists(conditions, min_size=1, max_size=2), max_size=3),
    st.dictionaries(names, st.lists(conditions, min_size=1, max_size=2), max_size=3),
    st.dictionaries(names, st.text(max_size=5), max_size=5),
)
def test_and_of_keys_equals_all_of_single_key_policies(
    first: dict[str, Any], second: dict[str, Any], attributes: dict[str, str]
) -> None:
    policy = {**first, **second}
    expected = all(match({key: value}, attributes) for key, value in policy.items())
    assert match(policy, attributes) is expected


@given(json_values, json_values)
def test_validation_and_matching_never_crash(policy: Any, payload: Any) -> None:
    try:
        compiled = compile_filter_policy(policy)
    except FilterPolicyError as error:
        assert isinstance(error.path, str)
        return
    assert isinstance(compiled.matches(attributes={}, payload=payload), bool)


@given(st.dictionaries(names, st.lists(conditions, min_size=1, max_size=3), max_size=4))
def test_generated_policies_are_valid(policy: dict[str, Any]) -> None:
    validate_filter_policy(policy)
