from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "apps.publishing"
    label = "publishing"

    def ready(self) -> None:
        from apps.publishing.retention import retention_policies_register

        retention_policies_register()
