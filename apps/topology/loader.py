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
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from apps.core.errors import SwitchboardError
from apps.topology import validation
from apps.topology.models import NAME_PATTERN, ConsumerKind, UnroutablePolicy
from apps.topology.specs import SubscriptionSpec, TopicSpec, TopologySpec

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
                    "batch_size": {
                        "type": "integer",
                        "minimum": validation.BATCH_SIZE[0],
                        "maximum": validation.BATCH_SIZE[1],
                    },
                    "paused": {"type": "boolean"},
                    "retry": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "max_attempts": {
                                "type": "integer",
                                "minimum": validation.MAX_ATTEMPTS[0],
                                "maximum": validation.MAX_ATTEMPTS[1],
                            },
                            "initial_delay": {"type": "number", "minimum": validation.RETRY_INITIAL_DELAY[0]},
                            "multiplier": {"type": "number", "minimum": validation.RETRY_MULTIPLIER[0]},
                            "max_delay": {"type": "number", "minimum": validation.RETRY_MAX_DELAY[0]},
                            "jitter": {
                                "type": "number",
                                "minimum": validation.RETRY_JITTER[0],
                                "maximum": validation.RETRY_JITTER[1],
                            },
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


def entry_label(document: Any, path: list[Any]) -> str:
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


def document_parse(text: str, *, schema: Mapping[str, Any], source: str) -> tuple[Any, list[str]]:
    """Read a YAML document and check it against a JSON Schema; return it and its problems.

    Each problem names its entry and field (`entry_label`); a document that is not YAML
    is one problem naming `source`. Used by the topology and the alert rules files.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, [f"{source}: not valid YAML: {exc}"]
    validator = Draft202012Validator(schema)
    problems = [
        f"{entry_label(document, list(error.absolute_path))}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]
    return document, problems


def topology_parse(
    text: str, *, source: str = "topology.yaml", environ: Mapping[str, str] | None = None
) -> TopologySpec:
    """Parse and validate a topology document; raise TopologyError listing every problem.

    Environment references are resolved from `environ` (default: the process environment).
    """
    environ = os.environ if environ is None else environ
    document, problems = document_parse(text, schema=TOPOLOGY_SCHEMA, source=source)
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
                webhook_url=expand_env(entry.get("url", ""), environ)[0],
                webhook_secrets=environ.get(entry.get("secrets_env", ""), "").split(),
                webhook_secrets_env=entry.get("secrets_env", ""),
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


# The key in topology.yaml of each SubscriptionSpec field the validator names.
_FILE_KEYS = {
    "consumer_kind": "consumer",
    "webhook_url": "url",
    "webhook_secrets": "secrets_env",
    "max_attempts": "retry.max_attempts",
    "retry_initial_delay": "retry.initial_delay",
    "retry_multiplier": "retry.multiplier",
    "retry_max_delay": "retry.max_delay",
    "retry_jitter": "retry.jitter",
}


def _check_references(spec: TopologySpec, document: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Check what the schema cannot: names declared twice, references, the environment, and
    each entry with the validator that the admin and the API use too (apps.topology.validation).
    """
    problems = []
    topic_names = [t.name for t in spec.topics]
    problems += [f"topics: {name!r} is declared twice" for name in _duplicates(topic_names)]
    problems += [
        f"subscriptions: {name!r} is declared twice" for name in _duplicates([s.name for s in spec.subscriptions])
    ]
    for index, topic in enumerate(spec.topics):
        problems += [f"topics[{index}] ({topic.name}).{p}" for p in validation.topic_problems(topic)]
    entries = document.get("subscriptions") or []
    for index, sub in enumerate(spec.subscriptions):
        label = f"subscriptions[{index}] ({sub.name})"
        if sub.topic not in topic_names:
            problems.append(f"{label}.topic: unknown topic {sub.topic!r}; declare it under 'topics'")
        environment = _check_environment(sub, entries[index], environ)
        reported = {key for key, _ in environment}
        for problem in validation.subscription_problems(sub, secrets_source=entries[index].get("secrets_env", "")):
            key = _FILE_KEYS.get(problem.field, problem.field)
            if key not in reported:
                problems.append(
                    f"{label}.{key}" + (f".{problem.path}" if problem.path else "") + f": {problem.message}"
                )
        problems += [f"{label}.{key}: {problem}" for key, problem in environment]
    return problems


def _check_environment(
    sub: SubscriptionSpec, entry: dict[str, Any], environ: Mapping[str, str]
) -> list[tuple[str, str]]:
    """Check what a subscription entry takes from the environment; return (file key, problem) pairs."""
    if sub.consumer_kind != ConsumerKind.WEBHOOK:
        return [("secrets_env", "only a webhook subscription takes secrets_env")] if "secrets_env" in entry else []
    problems = []
    if "url" in entry:
        _, unset = expand_env(entry["url"], environ)
        problems += [
            ("url", f"environment variable {name} is not set; set it or write ${{{name}:-default}}") for name in unset
        ]
    name = entry.get("secrets_env")
    if name is None:
        problems.append(
            (
                "secrets_env",
                "a webhook subscription needs secrets_env, the environment variable that holds its signing secrets",
            )
        )
    elif not environ.get(name, "").split():
        problems.append(
            (
                "secrets_env",
                f"environment variable {name} is not set or empty; "
                "it must hold space-separated signing secrets (whsec_...)",
            )
        )
    return problems


def expand_env(value: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
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
