"""Read `topology.yaml`, validate it whole, and describe it as plain specs.

Validation runs before anything is written, and every problem names the entry and the
field, e.g. ``subscriptions[1] (billing-charge).retry.max_attempts: 0 is less than the
minimum of 1``.

Webhook subscriptions read the environment: `url` may contain ``${NAME}`` or
``${NAME:-default}``, and `secrets_env` names the variable that holds the signing
secrets (space-separated ``whsec_...``), so secrets never live in the file.
"""

import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from apps.core import consumers
from apps.core.errors import SwitchboardError
from apps.topology.filter_policy import FilterPolicyError, validate_filter_policy
from apps.topology.models import NAME_PATTERN, ConsumerKind, UnroutablePolicy
from apps.topology.webhook_secrets import webhook_secret_is_valid

_NAME = {"type": "string", "pattern": NAME_PATTERN}
_ENV_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")

TOPOLOGY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["topics"],
    "properties": {
        "topics": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": _NAME,
                    "description": {"type": "string"},
                    "unroutable": {"enum": [policy.value for policy in UnroutablePolicy]},
                    "retention_days": {"type": "integer", "minimum": 1},
                },
            },
        },
        "subscriptions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "topic"],
                "properties": {
                    "name": _NAME,
                    "topic": _NAME,
                    "consumer": {"enum": [kind.value for kind in ConsumerKind]},
                    "handler": {"type": "string", "minLength": 1},
                    "url": {"type": "string", "pattern": "^https?://"},
                    "secrets_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                    "filter_policy": {"type": "object"},
                    "batch_size": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "paused": {"type": "boolean"},
                    "retry": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
                            "initial_delay": {"type": "number", "minimum": 0},
                            "multiplier": {"type": "number", "minimum": 1},
                            "max_delay": {"type": "number", "minimum": 0},
                            "jitter": {"type": "number", "minimum": 0, "maximum": 1},
                        },
                    },
                },
            },
        },
    },
}


class TopologyError(SwitchboardError):
    """The topology file is not valid; `problems` lists every problem found."""

    status = 400
    code = "invalid-topology"
    title = "Invalid topology"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str = ""
    unroutable: str = UnroutablePolicy.DROP.value
    # Days a finished message is kept; None: SWITCHBOARD_RETENTION_DAYS.
    retention_days: int | None = None


@dataclass(frozen=True)
class SubscriptionSpec:
    name: str
    topic: str
    consumer_kind: str = ConsumerKind.PYTHON.value
    handler: str = ""
    webhook_url: str = ""
    webhook_secrets: list[str] = field(default_factory=list, repr=False)
    filter_policy: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 1
    # None: the file does not say; sync_topology then never changes a runtime pause.
    paused: bool | None = None
    max_attempts: int = 5
    retry_initial_delay: float = 1.0
    retry_multiplier: float = 2.0
    retry_max_delay: float = 300.0
    retry_jitter: float = 0.2


@dataclass(frozen=True)
class TopologySpec:
    topics: list[TopicSpec]
    subscriptions: list[SubscriptionSpec]


def _entry_label(document: Any, path: list[Any]) -> str:
    """Render a JSON path, naming list entries by their `name` where they have one."""
    label, node = "", document
    for part in path:
        if isinstance(part, int):
            label += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                label += f" ({node['name']})"
        else:
            label += f".{part}" if label else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return label or "(top level)"


def topology_parse(
    text: str, *, source: str = "topology.yaml", environ: Mapping[str, str] | None = None
) -> TopologySpec:
    """Parse and validate a topology document; raise TopologyError listing every problem.

    Environment references are resolved from `environ` (default: the process environment).
    """
    environ = os.environ if environ is None else environ
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TopologyError([f"{source}: not valid YAML: {exc}"]) from exc
    validator = Draft202012Validator(TOPOLOGY_SCHEMA)
    problems = [
        f"{_entry_label(document, list(error.absolute_path))}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        raise TopologyError(problems)
    spec = _to_spec(document, environ)
    problems = _check_references(spec, document, environ)
    if problems:
        raise TopologyError(problems)
    return spec


def topology_read(path: Path, *, environ: Mapping[str, str] | None = None) -> TopologySpec:
    try:
        text = path.read_text()
    except OSError as exc:
        raise TopologyError([f"{path}: cannot read: {exc.strerror}"]) from exc
    return topology_parse(text, source=str(path), environ=environ)


def _to_spec(document: dict[str, Any], environ: Mapping[str, str]) -> TopologySpec:
    topics = [
        TopicSpec(
            name=t["name"],
            description=t.get("description", ""),
            unroutable=t.get("unroutable", UnroutablePolicy.DROP.value),
            retention_days=t.get("retention_days"),
        )
        for t in document["topics"]
    ]
    subscriptions = []
    for entry in document.get("subscriptions") or []:
        retry = entry.get("retry", {})
        kind = entry.get("consumer", ConsumerKind.PYTHON.value)
        subscriptions.append(
            SubscriptionSpec(
                name=entry["name"],
                topic=entry["topic"],
                consumer_kind=kind,
                handler=entry.get("handler", entry["name"] if kind == ConsumerKind.PYTHON else ""),
                webhook_url=_expand_env(entry.get("url", ""), environ)[0],
                webhook_secrets=environ.get(entry.get("secrets_env", ""), "").split(),
                filter_policy=entry.get("filter_policy", {}),
                batch_size=entry.get("batch_size", 1),
                paused=entry.get("paused"),
                max_attempts=retry.get("max_attempts", 5),
                retry_initial_delay=float(retry.get("initial_delay", 1.0)),
                retry_multiplier=float(retry.get("multiplier", 2.0)),
                retry_max_delay=float(retry.get("max_delay", 300.0)),
                retry_jitter=float(retry.get("jitter", 0.2)),
            )
        )
    return TopologySpec(topics=topics, subscriptions=subscriptions)


def _check_references(spec: TopologySpec, document: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    problems = []
    topic_names = [t.name for t in spec.topics]
    problems += [f"topics: {name!r} is declared twice" for name in _duplicates(topic_names)]
    problems += [
        f"subscriptions: {name!r} is declared twice" for name in _duplicates([s.name for s in spec.subscriptions])
    ]
    entries = document.get("subscriptions") or []
    for index, sub in enumerate(spec.subscriptions):
        label = f"subscriptions[{index}] ({sub.name})"
        if sub.topic not in topic_names:
            problems.append(f"{label}.topic: unknown topic {sub.topic!r}; declare it under 'topics'")
        if sub.consumer_kind == ConsumerKind.PYTHON and not consumers.consumer_exists(sub.handler):
            known = ", ".join(consumers.consumer_names()) or "none"
            problems.append(f"{label}.handler: no consumer registered as {sub.handler!r} (registered: {known})")
        if sub.consumer_kind == ConsumerKind.WEBHOOK:
            problems += _check_webhook(label, entries[index], environ)
        else:
            problems += [
                f"{label}.{key}: only a webhook subscription takes {key}"
                for key in ("url", "secrets_env")
                if key in entries[index]
            ]
        if sub.retry_max_delay < sub.retry_initial_delay:
            problems.append(f"{label}.retry.max_delay: must not be below initial_delay")
        try:
            validate_filter_policy(sub.filter_policy)
        except FilterPolicyError as exc:
            path = f"{label}.filter_policy" + (f".{exc.path}" if exc.path else "")
            problems.append(f"{path}: {exc}")
    return problems


def _check_webhook(label: str, entry: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    problems = []
    if "url" not in entry:
        problems.append(f"{label}.url: a webhook subscription needs a url")
    else:
        _, unset = _expand_env(entry["url"], environ)
        problems += [
            f"{label}.url: environment variable {name} is not set; set it or write ${{{name}:-default}}"
            for name in unset
        ]
    name = entry.get("secrets_env")
    if name is None:
        problems.append(
            f"{label}.secrets_env: a webhook subscription needs secrets_env, the environment variable "
            "that holds its signing secrets"
        )
        return problems
    secrets = environ.get(name, "").split()
    if not secrets:
        problems.append(
            f"{label}.secrets_env: environment variable {name} is not set or empty; "
            "it must hold space-separated signing secrets (whsec_...)"
        )
    problems += [
        f"{label}.secrets_env: secret {position} in {name} is malformed; expected whsec_ and the base64 "
        "of 24 to 64 random bytes"
        for position, secret in enumerate(secrets, start=1)
        if not webhook_secret_is_valid(secret)
    ]
    return problems


def _expand_env(value: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace ${NAME} and ${NAME:-default} in `value`; also return the unset names without default."""
    unset: list[str] = []

    def replace(match: re.Match[str]) -> str:
        found = environ.get(match["name"], "")
        if found:
            return found
        if match["default"] is not None:
            return match["default"]
        unset.append(match["name"])
        return match[0]

    return _ENV_REFERENCE.sub(replace, value), unset


def _duplicates(names: list[str]) -> list[str]:
    return [name for name, count in Counter(names).items() if count > 1]
