from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        # Registers the OpenAPI description of API-key authentication.
        from apps.accounts import schema  # noqa: F401
        from apps.accounts.retention import retention_policies_register

        retention_policies_register()
