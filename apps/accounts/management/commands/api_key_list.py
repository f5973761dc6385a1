from typing import Any

from apps.accounts.models import ApiKey
from apps.core.management.base import SwitchboardCommand


class Command(SwitchboardCommand):
    help = "List the API keys: name, prefix, scopes, topics, expiry and state (never their secrets)."

    def handle(self, *args: Any, **options: Any) -> None:
        rows = [("NAME", "PREFIX", "SCOPES", "TOPICS", "EXPIRES", "STATE")]
        for key in ApiKey.objects.order_by("name"):
            state = "revoked" if key.revoked_at else ("active" if key.is_active else "expired")
            expires = key.expires_at.isoformat(timespec="seconds") if key.expires_at else "-"
            topics = ",".join(key.topic_patterns) or "*"
            rows.append((key.name, key.prefix, ",".join(key.scopes) or "-", topics, expires, state))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
