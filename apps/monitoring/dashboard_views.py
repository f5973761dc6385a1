"""The dashboard for staff (Django's admin login): pages, and the JSON their charts poll."""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from apps.monitoring import alert_selectors, dashboard_selectors
from apps.monitoring.models import ALL_SUBSCRIPTIONS
from apps.topology.models import Subscription

# Charts show this much history; the page asks only for what is newer than it has.
WINDOW = timedelta(hours=1)


def _page(request: HttpRequest, subscription: Subscription | None) -> HttpResponse:
    name = subscription.name if subscription else None
    page_settings = {
        "subscription": name,
        "interval": int(settings.SWITCHBOARD_MONITORING_INTERVAL * 1000),
        "window": int(WINDOW.total_seconds()),
        "series": reverse("dashboard-series"),
        "table": reverse("dashboard-table"),
        "dashboard": reverse("dashboard"),
        "deadLetters": reverse("admin:deadletters_deadletter_changelist"),
    }
    return render(
        request,
        "monitoring/dashboard.html",
        {
            "subscription": subscription,
            "dashboard_settings": page_settings,
            "incidents": alert_selectors.alert_incidents_recent(subscription=name),
        },
    )


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return _page(request, None)


@staff_member_required
def subscription_dashboard(request: HttpRequest, name: str) -> HttpResponse:
    subscription = Subscription.objects.select_related("topic").filter(name=name).first()
    if subscription is None:
        raise Http404(f"No subscription named {name!r}.")
    return _page(request, subscription)


@staff_member_required
def series(request: HttpRequest) -> JsonResponse:
    """Samples of `subscription` (default `*`) newer than `since` (Unix seconds; default: the window)."""
    floor = timezone.now() - WINDOW
    try:
        since = datetime.fromtimestamp(float(request.GET["since"]), tz=UTC) if "since" in request.GET else floor
    except ValueError:
        return JsonResponse({"error": "since: Unix seconds expected"}, status=400)
    subscription = request.GET.get("subscription", ALL_SUBSCRIPTIONS)
    columns = dashboard_selectors.sample_series(subscription=subscription, since=max(since, floor))
    return JsonResponse({"subscription": subscription, "columns": columns})


@staff_member_required
def table(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dashboard_selectors.live_table(subscription=request.GET.get("subscription")))
