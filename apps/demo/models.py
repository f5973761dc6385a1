"""What the demo consumers did, so a person (admin) and a test can see they ran."""

from django.db import models


class DemoRecord(models.Model):
    """What one message did to one order: at most one record per message (its effect once)."""

    message_id = models.UUIDField(unique=True)
    order_id = models.CharField(max_length=100)

    class Meta:
        abstract = True


class InventoryReservation(DemoRecord):
    items = models.JSONField(default=list)
    reserved_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"reservation for order {self.order_id}"


class BillingCharge(DemoRecord):
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    attempt = models.PositiveIntegerField(help_text="The attempt that succeeded.")
    charged_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"charge {self.amount} for order {self.order_id}"


class DemoEmail(DemoRecord):
    """An order confirmation the demo webhook receiver accepted (one per message)."""

    to = models.CharField(max_length=254)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"email to {self.to} for order {self.order_id}"


class VatAssessment(DemoRecord):
    """VAT worked out for an EU order (the eu-vat subscription takes only region=eu)."""

    region = models.CharField(max_length=20)
    vat = models.DecimalField(max_digits=12, decimal_places=2)
    assessed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"VAT {self.vat} for order {self.order_id}"
