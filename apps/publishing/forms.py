"""The admin's "send test message" form: what publish() takes, typed in by a person."""

import json
from typing import Any

from django import forms

from apps.topology.models import Topic


class TestMessageForm(forms.Form):
    topic = forms.ModelChoiceField(queryset=Topic.objects.order_by("name"), to_field_name="name")
    payload = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "cols": 80}), initial="{}", help_text="JSON.")
    attributes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        required=False,
        initial="{}",
        help_text='A JSON object of strings, e.g. {"region": "eu"}.',
    )
    key = forms.CharField(required=False, max_length=200)

    def clean_payload(self) -> Any:
        try:
            return json.loads(self.cleaned_data["payload"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}.") from exc

    def clean_attributes(self) -> dict[str, str]:
        text = self.cleaned_data["attributes"].strip() or "{}"
        try:
            attributes = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}.") from exc
        if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
            raise forms.ValidationError("Give a JSON object whose values are strings.")
        return attributes
