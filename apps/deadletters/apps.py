from django.apps import AppConfig


class DeadLettersConfig(AppConfig):
    name = "apps.deadletters"
    label = "deadletters"
    verbose_name = "Dead letters"

    def ready(self) -> None:
        from apps.deadletters.retention import retention_policies_register

        retention_policies_register()
