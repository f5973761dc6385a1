"""API keys: a public prefix to find the key, a SHA-256 hash of the secret, scopes and topics."""

from django.db import models
from django.utils import timezone


class ApiKey(models.Model):
    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part that identifies the key.")
    # Keys are 32 random bytes, so a fast hash is enough: there is nothing to brute-force.
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # What the key may do (apps.accounts.scopes.Scope values; `admin` implies every scope).
    scopes = models.JSONField(default=list, blank=True)
    # Topic name globs (`orders.*`) the key may reach; empty: every topic.
    topic_patterns = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    # DRF treats request.user as the authenticated principal.
    @property
    def is_authenticated(self) -> bool:
        return True


class AuditEvent(models.Model):
    """One operator action: who did what to which objects, how many, when and from where.

    Written by apps.accounts.audit.record in the transaction of the action itself.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # api_key (name: the key's), admin (the admin user), command (the OS user), code (Python).
    actor_kind = models.CharField(max_length=20)
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=50)
    # The ids acted on, or the filter that selected them.
    targets = models.JSONField(default=dict, blank=True)
    count = models.PositiveIntegerField(default=0)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["action", "at"], name="audit_action_at"),
            models.Index(fields=["actor_name", "at"], name="audit_actor_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_kind}:{self.actor_name} {self.action} ({self.count})"
