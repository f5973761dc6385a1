"""Read `config/alerts.yaml`, validate it whole, and describe it as plain specs.

Validated like the topology: every problem names the entry and the field, e.g.
``rules[2] (backlog).above: -1 is less than the minimum of 0``, and a file with any
problem changes nothing (`sync_alerts` raises before it writes).

A rule watches every subscription its selector names (a name or a glob, or a list of
them) and is one of six kinds, each with its own fields:

| kind | fires when |
|---|---|
| `queue_depth` | the deliveries in `states` (default `[ready]`) stay `above` N for `for` |
| `oldest_age` | the oldest open delivery is older than `above` seconds for `for` |
| `dead_letters_growth` | at least `by` new dead letters arrived `within` a window |
| `error_rate` | failed attempts / all attempts `over` a window is `above` X (0..1), given `min_attempts` |
| `no_consumers` | no worker consumes the (unpaused) subscription's queue for `for` |
| `outbox_backlog` | deliveries committed but not yet sent stay `above` N for `for` |

Durations are seconds, or a string such as ``30s``, ``5m``, ``1h``.

Why one module of ~320 lines: the file's schema and the specs it becomes are read
together when a rule kind is added or changed; split, one kind's rules would sit in two
files.
"""

import fnmatch
import os
import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.core.errors import SwitchboardError
from apps.topology.loader import document_parse, expand_env
from apps.topology.webhook_secrets import webhook_secret_is_valid

KINDS: dict[str, tuple[set[str], set[str]]] = {
    # kind: (required fields, optional fields)
    "queue_depth": ({"above"}, {"for", "states"}),
    "oldest_age": ({"above"}, {"for"}),
    "dead_letters_growth": ({"by", "within"}, set()),
    "error_rate": ({"above", "over"}, {"min_attempts"}),
    "no_consumers": ({"for"}, set()),
    "outbox_backlog": ({"above"}, {"for"}),
}
KIND_FIELDS = {name for required, optional in KINDS.values() for name in required | optional}
SEVERITIES = ["info", "warning", "critical"]
DEPTH_STATES = ["ready", "scheduled", "in_flight", "outbox"]
NOTIFIER_KINDS = ["webhook", "email", "log"]
WEBHOOK_FORMATS = ["standard", "slack"]

_NAME = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9._-]{0,99}$"}
_DURATION_TEXT = r"^\d+(\.\d+)?(s|m|h|d)$"
_DURATION = {"oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": _DURATION_TEXT}]}
_SELECTOR = {"type": "string", "minLength": 1, "pattern": r"^[a-z0-9._*?\[\]-]+$"}

ALERTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["rules"],
    "properties": {
        "notifiers": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "kind"],
                "properties": {
                    "name": _NAME,
                    "kind": {"enum": NOTIFIER_KINDS},
                    "url": {"type": "string", "pattern": "^https?://"},
                    "secrets_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                    "format": {"enum": WEBHOOK_FORMATS},
                    "to": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"},
                    },
                    "level": {"enum": ["info", "warning", "error"]},
                },
            },
        },
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "kind", "subscriptions", "severity", "notifiers"],
                "properties": {
                    "name": _NAME,
                    "kind": {"enum": list(KINDS)},
                    "description": {"type": "string"},
                    "subscriptions": {"oneOf": [_SELECTOR, {"type": "array", "minItems": 1, "items": _SELECTOR}]},
                    "severity": {"enum": SEVERITIES},
                    "notifiers": {"type": "array", "items": _NAME},
                    "reminder": _DURATION,
                    "above": {"type": "number", "minimum": 0},
                    "by": {"type": "integer", "minimum": 1},
                    "for": _DURATION,
                    "within": _DURATION,
                    "over": _DURATION,
                    "min_attempts": {"type": "integer", "minimum": 1},
                    "states": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": DEPTH_STATES}},
                },
            },
        },
    },
}


class AlertRulesError(SwitchboardError):
    """The alert rules file is not valid; `problems` lists every problem found."""

    status = 400
    code = "invalid-alert-rules"
    title = "Invalid alert rules"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class NotifierSpec:
    name: str
    kind: str
    url: str = ""
    secrets_env: str = ""
    format: str = "standard"
    to: list[str] = field(default_factory=list)
    level: str = "warning"


@dataclass(frozen=True)
class RuleSpec:
    """One alert rule; `threshold`, `hold` and `window` mean what its kind says (module docstring)."""

    name: str
    kind: str
    severity: str
    selectors: list[str]
    notifiers: list[str]
    threshold: float = 0.0
    hold: float = 0.0  # seconds the condition must last before the rule fires (`for`)
    window: float = 0.0  # seconds looked back (`within`, `over`)
    states: list[str] = field(default_factory=lambda: ["ready"])
    min_attempts: int = 1
    reminder: float = 0.0  # seconds between reminders while firing; 0: none
    description: str = ""

    def selects(self, subscription: str) -> bool:
        return any(fnmatch.fnmatchcase(subscription, pattern) for pattern in self.selectors)


@dataclass(frozen=True)
class AlertsSpec:
    notifiers: list[NotifierSpec]
    rules: list[RuleSpec]


def duration_seconds(value: float | str) -> float:
    """Read a duration: seconds as a number, or a string such as ``90s``, ``5m``, ``1h``, ``1d``."""
    if isinstance(value, int | float):
        return float(value)
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(value[:-1]) * units[value[-1]]


def alerts_parse(
    text: str,
    *,
    source: str = "alerts.yaml",
    subscriptions: Collection[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> AlertsSpec:
    """Parse and validate an alert rules document; raise AlertRulesError listing every problem.

    `subscriptions`, when given, are the names a selector without wildcards must name.
    """
    environ = os.environ if environ is None else environ
    document, problems = document_parse(text, schema=ALERTS_SCHEMA, source=source)
    if problems:
        raise AlertRulesError(problems)
    problems = _check(document, subscriptions, environ)
    if problems:
        raise AlertRulesError(problems)
    return _to_spec(document, environ)


def alerts_read(
    path: Path, *, subscriptions: Collection[str] | None = None, environ: Mapping[str, str] | None = None
) -> AlertsSpec:
    try:
        text = path.read_text()
    except OSError as exc:
        raise AlertRulesError([f"{path}: cannot read: {exc.strerror}"]) from exc
    return alerts_parse(text, source=str(path), subscriptions=subscriptions, environ=environ)


def _check(document: dict[str, Any], subscriptions: Collection[str] | None, environ: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    notifiers = document.get("notifiers") or []
    rules = document["rules"] or []
    problems += [f"notifiers: {name!r} is declared twice" for name in _duplicates([n["name"] for n in notifiers])]
    problems += [f"rules: {name!r} is declared twice" for name in _duplicates([r["name"] for r in rules])]
    for index, entry in enumerate(notifiers):
        problems += _check_notifier(f"notifiers[{index}] ({entry['name']})", entry, environ)
    known_notifiers = {n["name"] for n in notifiers}
    for index, entry in enumerate(rules):
        label = f"rules[{index}] ({entry['name']})"
        required, optional = KINDS[entry["kind"]]
        problems += [f"{label}.{name}: a {entry['kind']} rule needs {name}" for name in sorted(required - set(entry))]
        problems += [
            f"{label}.{name}: a {entry['kind']} rule takes no {name}"
            for name in sorted((set(entry) & KIND_FIELDS) - required - optional)
        ]
        if entry["kind"] == "error_rate" and entry.get("above", 0) > 1:
            problems.append(f"{label}.above: an error rate is a fraction between 0 and 1")
        for position, name in enumerate(entry["notifiers"]):
            if name not in known_notifiers:
                known = ", ".join(sorted(known_notifiers)) or "none"
                problems.append(f"{label}.notifiers[{position}]: unknown notifier {name!r} (declared: {known})")
        selectors = _selectors(entry["subscriptions"])
        if subscriptions is not None:
            problems += [
                f"{label}.subscriptions: no subscription named {selector!r}"
                for selector in selectors
                if not _is_glob(selector) and selector not in subscriptions
            ]
    return problems


def _check_notifier(label: str, entry: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    fields_of = {"webhook": {"url", "secrets_env", "format"}, "email": {"to"}, "log": {"level"}}
    kind = entry["kind"]
    problems = [
        f"{label}.{name}: a {kind} notifier takes no {name}"
        for name in sorted(set(entry) - {"name", "kind"} - fields_of[kind])
    ]
    if kind == "email" and "to" not in entry:
        problems.append(f"{label}.to: an email notifier needs the addresses to send to")
    if kind != "webhook":
        return problems
    if "url" not in entry:
        problems.append(f"{label}.url: a webhook notifier needs a url")
    else:
        _, unset = expand_env(entry["url"], environ)
        problems += [
            f"{label}.url: environment variable {name} is not set; set it or write ${{{name}:-default}}"
            for name in unset
        ]
    secrets_env = entry.get("secrets_env")
    if secrets_env is None:
        if entry.get("format", "standard") == "standard":
            problems.append(f"{label}.secrets_env: a standard webhook notifier is signed; name the variable")
        return problems
    secrets = environ.get(secrets_env, "").split()
    if not secrets:
        problems.append(f"{label}.secrets_env: environment variable {secrets_env} is not set or empty")
    problems += [
        f"{label}.secrets_env: secret {position} in {secrets_env} is malformed; expected whsec_ and base64"
        for position, secret in enumerate(secrets, start=1)
        if not webhook_secret_is_valid(secret)
    ]
    return problems


def _to_spec(document: dict[str, Any], environ: Mapping[str, str]) -> AlertsSpec:
    notifiers = [
        NotifierSpec(
            name=entry["name"],
            kind=entry["kind"],
            url=expand_env(entry.get("url", ""), environ)[0],
            secrets_env=entry.get("secrets_env", ""),
            format=entry.get("format", "standard"),
            to=list(entry.get("to", [])),
            level=entry.get("level", "warning"),
        )
        for entry in document.get("notifiers") or []
    ]
    rules = []
    for entry in document["rules"] or []:
        window = entry.get("within", entry.get("over", 0))
        rules.append(
            RuleSpec(
                name=entry["name"],
                kind=entry["kind"],
                severity=entry["severity"],
                selectors=_selectors(entry["subscriptions"]),
                notifiers=list(entry["notifiers"]),
                threshold=float(entry.get("above", entry.get("by", 0))),
                hold=duration_seconds(entry.get("for", 0)),
                window=duration_seconds(window),
                states=list(entry.get("states", ["ready"])),
                min_attempts=entry.get("min_attempts", 1),
                reminder=duration_seconds(entry.get("reminder", 0)),
                description=entry.get("description", ""),
            )
        )
    return AlertsSpec(notifiers=notifiers, rules=rules)


def _selectors(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _is_glob(selector: str) -> bool:
    return bool(re.search(r"[*?\[]", selector))


def _duplicates(names: list[str]) -> list[str]:
    return [name for name, count in Counter(names).items() if count > 1]
