from django.apps import AppConfig


class DeadLettersConfig(AppConfig):
    name = "apps.deadletters"
    label = "deadletters"
    verbose_name = "Dead letters"
