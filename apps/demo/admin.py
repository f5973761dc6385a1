from django.contrib import admin

from apps.demo.models import BillingCharge, DemoEmail, InventoryReservation, VatAssessment


@admin.register(InventoryReservation)
class InventoryReservationAdmin(admin.ModelAdmin):
    list_display = ["order_id", "message_id", "reserved_at"]


@admin.register(BillingCharge)
class BillingChargeAdmin(admin.ModelAdmin):
    list_display = ["order_id", "amount", "attempt", "message_id", "charged_at"]


@admin.register(DemoEmail)
class DemoEmailAdmin(admin.ModelAdmin):
    list_display = ["order_id", "to", "message_id", "received_at"]


@admin.register(VatAssessment)
class VatAssessmentAdmin(admin.ModelAdmin):
    list_display = ["order_id", "region", "vat", "message_id", "assessed_at"]
