"""The admin's forms for topics and subscriptions: they refuse what the topology file refuses.

Each form checks the values it would save with the shared validator
(apps.topology.validation) and shows every problem on its field, so an invalid
subscription cannot be saved from the admin either.
"""

import dataclasses
from typing import Any

from django import forms

from apps.topology import validation
from apps.topology.models import Subscription, Topic
from apps.topology.specs import SubscriptionSpec, TopicSpec


class _ValidatedForm(forms.ModelForm):
    def _add_problems(self, problems: list[validation.Problem]) -> None:
        for problem in problems:
            message = f"{problem.path}: {problem.message}" if problem.path else problem.message
            self.add_error(problem.field if problem.field in self.fields else None, message)


class TopicForm(_ValidatedForm):
    class Meta:
        model = Topic
        fields = ["name", "description", "unroutable", "retention_days"]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if not self.errors:
            values = {
                f.name: cleaned.get(f.name, getattr(self.instance, f.name)) for f in dataclasses.fields(TopicSpec)
            }
            self._add_problems(validation.topic_problems(TopicSpec(**values)))
        return cleaned


class SubscriptionForm(_ValidatedForm):
    # Checked again, with the SSRF rules, by the validator.
    webhook_url = forms.URLField(max_length=2000, required=False, assume_scheme="https")

    class Meta:
        model = Subscription
        fields = [
            "name",
            "topic",
            "consumer_kind",
            "handler",
            "webhook_url",
            "webhook_secrets",
            "filter_policy",
            "max_attempts",
            "retry_initial_delay",
            "retry_multiplier",
            "retry_max_delay",
            "retry_jitter",
            "batch_size",
            "paused",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.errors:
            return cleaned  # a field that did not parse: its own error says why
        # An emptied JSON field arrives as None; the model keeps it as an empty list or object.
        for name, empty in (("webhook_secrets", list), ("filter_policy", dict)):
            if name in cleaned and cleaned[name] is None:
                cleaned[name] = empty()
        values: dict[str, Any] = {}
        for spec_field in dataclasses.fields(SubscriptionSpec):
            if spec_field.name == "topic":
                values["topic"] = self._topic_name(cleaned)
            elif spec_field.name in cleaned:
                values[spec_field.name] = cleaned[spec_field.name]
            else:
                values[spec_field.name] = getattr(self.instance, spec_field.name)
        problems = validation.subscription_problems(SubscriptionSpec(**values))
        # Inline under a topic not saved yet: the topic's own form checks its name.
        self._add_problems([p for p in problems if values["topic"] or p.field != "topic"])
        return cleaned

    def _topic_name(self, cleaned: dict[str, Any]) -> str:
        """Name the subscription's topic: chosen in the form, or the topic an inline sits under."""
        if cleaned.get("topic") is not None:
            return str(cleaned["topic"].name)
        topic = self.instance.topic if self.instance.topic_id else None
        return topic.name if topic is not None else ""
