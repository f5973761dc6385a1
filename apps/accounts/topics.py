"""Which topics an API key may reach: globs over topic names (`orders.*`), none meaning all.

A key limited to some topics publishes only to them and sees only their messages,
subscriptions and dead letters; everything else answers 404 as if it did not exist, and
list endpoints leave it out (counts included). Selectors take a `TopicAccess` and apply
`filter` to their querysets; views name their URL's topic keyword in `topic_kwarg`,
which ScopePermission checks before the view runs.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, TypeVar

from django.db.models import QuerySet

from apps.accounts.models import ApiKey
from apps.core.errors import SwitchboardError

# Topic names are lower-case letters, digits, '.', '_' and '-'; a pattern adds '*' and '?'.
PATTERN_RE = re.compile(r"[a-z0-9._*?-]{1,100}")

Q = TypeVar("Q", bound=QuerySet[Any])


class InvalidTopicPatternError(SwitchboardError):
    status = 400
    code = "invalid-topic-pattern"
    title = "Invalid topic pattern"


class TopicNotVisibleError(SwitchboardError):
    """The key may not reach this topic; answered exactly as a topic that does not exist."""

    status = 404
    code = "unknown-topic"
    title = "Unknown topic"

    def __init__(self, topic: str) -> None:
        super().__init__(f"There is no topic named {topic!r}.")


def topic_patterns_parse(values: Iterable[str]) -> list[str]:
    """Return the patterns in `values` (blanks skipped, duplicates dropped, in order); raise for a malformed one."""
    patterns: list[str] = []
    for value in (v.strip() for v in values):
        if not value:
            continue
        if not PATTERN_RE.fullmatch(value):
            raise InvalidTopicPatternError(
                f"Topic pattern {value!r}: use lower-case letters, digits, '.', '_', '-', and '*' or '?' as wildcards."
            )
        if value not in patterns:
            patterns.append(value)
    return patterns


def _regex(pattern: str) -> str:
    """Translate a glob to a regular expression that SQLite (Python's re) and PostgreSQL read alike."""
    return "".join({"*": ".*", "?": ".", ".": r"\."}.get(char, char) for char in pattern)


@dataclass(frozen=True)
class TopicAccess:
    patterns: tuple[str, ...] = ()

    @property
    def unrestricted(self) -> bool:
        return not self.patterns

    def allows(self, topic: str) -> bool:
        return self.unrestricted or any(fnmatchcase(topic, pattern) for pattern in self.patterns)

    def filter(self, queryset: Q, field: str) -> Q:
        """Return `queryset` without rows whose topic name (at `field`, e.g. `topic__name`) the key may not reach."""
        if self.unrestricted:
            return queryset
        regex = "^(?:" + "|".join(_regex(p) for p in self.patterns) + ")$"
        return queryset.filter(**{f"{field}__regex": regex})


ALL_TOPICS = TopicAccess()


def visible_topics(request: Any) -> TopicAccess:
    """Return the topics the request's API key may reach (every topic for a caller that is not a key)."""
    api_key = getattr(request, "auth", None)
    if isinstance(api_key, ApiKey):
        return TopicAccess(tuple(api_key.topic_patterns))
    return ALL_TOPICS
