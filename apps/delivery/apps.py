from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class DeliveryConfig(AppConfig):
    name = "apps.delivery"
    label = "delivery"

    def ready(self) -> None:
        # Import every installed app's `consumers` module so its @consumer handlers register.
        autodiscover_modules("consumers")
