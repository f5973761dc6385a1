"""The one set of checks a topic or subscription passes before it is saved, whichever way it comes.

`topology.yaml` (apps.topology.loader), the admin's forms (apps.topology.forms) and the
REST API (apps.topology.api.serializers) all call `topic_problems` and
`subscription_problems` on the values they would save, and save nothing while a problem
is left. Each problem names the field (as on SubscriptionSpec) and, for a filter policy,
the part of it at fault; each way in renders it in its own words (a file path, a form
field, a problem-details body). What depends on the file alone (environment variables,
duplicate entries) stays in the loader; whether the topic exists, in the caller.

Webhook URLs: http or https with a host; a host that is by itself a forbidden address
(loopback, private, link-local, metadata...) or a loopback name is refused unless
SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS names it. A name is judged by the addresses it
resolves to when each webhook is sent (apps.delivery.transport), since DNS may change.
"""

import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from apps.core import consumers
from apps.core.addresses import host_forbidden_reason
from apps.topology.filter_policy import FilterPolicyError, validate_filter_policy
from apps.topology.models import NAME_PATTERN, ConsumerKind, UnroutablePolicy
from apps.topology.specs import SubscriptionSpec, TopicSpec
from apps.topology.webhook_secrets import webhook_secret_is_valid

_NAME_RE = re.compile(NAME_PATTERN)
NAME_RULE = "use lower-case letters, digits, '.', '_' and '-' (at most 100), starting with a letter or digit"

# (lowest, highest): the bounds of each number a subscription holds.
MAX_ATTEMPTS = (1, 100)
BATCH_SIZE = (1, 1000)
RETRY_INITIAL_DELAY = (0, math.inf)
RETRY_MULTIPLIER = (1, math.inf)
RETRY_MAX_DELAY = (0, math.inf)
RETRY_JITTER = (0, 1)
_BOUNDS: dict[str, tuple[int, float]] = {
    "max_attempts": MAX_ATTEMPTS,
    "retry_initial_delay": RETRY_INITIAL_DELAY,
    "retry_multiplier": RETRY_MULTIPLIER,
    "retry_max_delay": RETRY_MAX_DELAY,
    "retry_jitter": RETRY_JITTER,
    "batch_size": BATCH_SIZE,
}
_INTEGER_FIELDS = ("max_attempts", "batch_size")
MAX_RETENTION_DAYS = 36_500  # a hundred years: any longer is "keep", and the column stays in range


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field; `path` names the part of a filter policy at fault ('' for all of it)."""

    field: str
    message: str
    path: str = ""

    def __str__(self) -> str:
        where = self.field + (f".{self.path}" if self.path else "")
        return f"{where}: {self.message}"


def name_problem(name: object) -> str | None:
    """Say what is wrong with a topic or subscription name, or None."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        return f"{name!r} is not a valid name: {NAME_RULE}"
    return None


def topic_problems(spec: TopicSpec) -> list[Problem]:
    """Check a topic's values; return every problem found (none when it may be saved)."""
    problems = []
    if (problem := name_problem(spec.name)) is not None:
        problems.append(Problem("name", problem))
    if spec.unroutable not in UnroutablePolicy.values:
        problems.append(Problem("unroutable", f"{spec.unroutable!r} is not one of {UnroutablePolicy.values}"))
    days = spec.retention_days
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RETENTION_DAYS
    ):
        problems.append(
            Problem("retention_days", f"{days!r} is not a whole number of days from 1 to {MAX_RETENTION_DAYS}")
        )
    return problems


def subscription_problems(spec: SubscriptionSpec, *, secrets_source: str = "") -> list[Problem]:
    """Check a subscription's values; return every problem found (none when it may be saved).

    `secrets_source` names where the signing secrets came from (an environment variable),
    to say so in a problem about one of them.
    """
    problems = []
    for field_name in ("name", "topic"):
        if (problem := name_problem(getattr(spec, field_name))) is not None:
            problems.append(Problem(field_name, problem))
    if spec.consumer_kind == ConsumerKind.PYTHON:
        problems += _python_problems(spec)
    elif spec.consumer_kind == ConsumerKind.WEBHOOK:
        problems += _webhook_problems(spec, secrets_source)
    else:
        problems.append(Problem("consumer_kind", f"{spec.consumer_kind!r} is not one of {ConsumerKind.values}"))
    problems += _number_problems(spec)
    try:
        validate_filter_policy(spec.filter_policy)
    except FilterPolicyError as exc:
        problems.append(Problem("filter_policy", exc.message, path=exc.path))
    return problems


def _python_problems(spec: SubscriptionSpec) -> list[Problem]:
    problems = []
    if not consumers.consumer_exists(spec.handler):
        known = ", ".join(consumers.consumer_names()) or "none"
        problems.append(Problem("handler", f"no consumer registered as {spec.handler!r} (registered: {known})"))
    if spec.webhook_url:
        problems.append(Problem("webhook_url", "only a webhook subscription takes url"))
    if spec.webhook_secrets:
        problems.append(Problem("webhook_secrets", "only a webhook subscription takes signing secrets"))
    return problems


def _webhook_problems(spec: SubscriptionSpec, secrets_source: str) -> list[Problem]:
    problems = []
    if spec.handler:
        problems.append(Problem("handler", "a webhook subscription takes no handler"))
    if not spec.webhook_url:
        problems.append(Problem("webhook_url", "a webhook subscription needs a url"))
    elif (problem := webhook_url_problem(spec.webhook_url)) is not None:
        problems.append(Problem("webhook_url", problem))
    if not spec.webhook_secrets:
        problems.append(Problem("webhook_secrets", "a webhook subscription needs at least one signing secret"))
    where = f" in {secrets_source}" if secrets_source else ""
    problems += [
        Problem(
            "webhook_secrets",
            f"secret {position}{where} is malformed; expected whsec_ and the base64 of 24 to 64 random bytes",
        )
        for position, secret in enumerate(spec.webhook_secrets, start=1)
        if not isinstance(secret, str) or not webhook_secret_is_valid(secret)
    ]
    return problems


def webhook_url_problem(url: str) -> str | None:
    """Say what is wrong with a webhook URL, or None (see the module's docstring)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        return f"{url!r} is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https") or not host:
        return f"{url!r} is not a valid webhook URL: it needs http:// or https:// and a host"
    allowed = {h.strip().strip("[]").lower() for h in settings.SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS}
    reason = host_forbidden_reason(host)
    if reason is not None and host not in allowed:
        return (
            f"webhooks must not be sent to {host}: it is a {reason} address; add {host!r} to "
            "SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS to allow it"
        )
    return None


def _number_problems(spec: SubscriptionSpec) -> list[Problem]:
    problems = []
    for field_name, (lowest, highest) in _BOUNDS.items():
        value = getattr(spec, field_name)
        integer = field_name in _INTEGER_FIELDS
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            problems.append(Problem(field_name, f"{value!r} is not {'an integer' if integer else 'a number'}"))
        elif not math.isfinite(value):
            problems.append(Problem(field_name, f"{value!r} is not a finite number"))
        elif value < lowest:
            problems.append(Problem(field_name, f"{value!r} is less than the minimum of {lowest}"))
        elif value > highest:
            problems.append(Problem(field_name, f"{value!r} is greater than the maximum of {highest}"))
    if not problems and spec.retry_max_delay < spec.retry_initial_delay:
        problems.append(Problem("retry_max_delay", "must not be below initial_delay"))
    return problems
