"""DRF authentication by `Authorization: Bearer <api key>`."""

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.accounts import ratelimit, services
from apps.accounts.models import ApiKey


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKey, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        # An address that failed too often is refused before its key is looked at.
        ip = request.META.get("REMOTE_ADDR") or "unknown"
        ratelimit.auth_failures_check(ip)
        keyword, _, raw_key = header.partition(" ")
        if keyword.lower() != self.keyword.lower() or not raw_key.strip():
            ratelimit.auth_failure_count(ip)
            raise exceptions.AuthenticationFailed("Use the header 'Authorization: Bearer <api key>'.")
        try:
            api_key = services.api_key_authenticate(raw_key=raw_key.strip())
        except services.InvalidApiKeyError as exc:
            ratelimit.auth_failure_count(ip)
            # DRF asks authenticators for AuthenticationFailed: it then adds the challenge.
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return api_key, api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="switchboard"'
