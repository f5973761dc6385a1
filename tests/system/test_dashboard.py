"""The dashboard in headless Chromium (Debian's, driven by Playwright) after sample traffic.

Real gunicorn, worker, relay and beat (sampling every second). The page must show
non-empty charts that grow without a reload and the ledger's numbers; screenshots go to
var/dashboard.png and var/dashboard-subscription.png.
"""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from apps.deadletters.models import DeadLetter
from apps.delivery.models import Delivery, DeliveryState
from apps.monitoring.models import SubscriptionSample
from apps.topology.models import Subscription
from tests.harness.processes import wait_until
from tests.harness.stack import Stack, WebServer
from tests.system.api import api_client, publish
from tests.system.beat import start_beat
from tests.system.oracle import nothing_open

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "dashboard-test-password"


@pytest.fixture
def sync_playwright() -> Any:
    """Playwright's sync entry point; skip when Playwright or Debian's chromium is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian package chromium; `make test-tools` installs it)")
    return sync_api.sync_playwright


@contextmanager
def chromium(sync_playwright: Any) -> Iterator[Any]:
    """Headless Chromium. Playwright runs an event loop in this thread: no ORM call while it is open."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def table_cell(page: Any, subscription: str, field: str) -> str:
    return str(page.locator(f'tr[data-subscription="{subscription}"] td[data-field="{field}"]').inner_text())


def test_the_dashboard_shows_live_charts_and_the_ledgers_numbers(
    stack: Stack, web: WebServer, api_key: str, sync_playwright: Any, tmp_path: Path
) -> None:
    User.objects.create_superuser("ops", "ops@example.com", PASSWORD)
    stack.env.update(SWITCHBOARD_MONITORING_INTERVAL="1")
    stack.start_worker()
    stack.start_relay()
    start_beat(stack, directory=tmp_path)
    # Publish once a first sample is stored, so the next ones see the traffic as rates.
    wait_until(SubscriptionSample.objects.exists, timeout=30, what="beat's first monitoring tick")
    with api_client(web, api_key) as client:
        for n in range(40):
            payload: dict[str, Any] = {"order_id": f"D-{n}", "total": f"{n}.50"}
            if n % 10 == 3:
                payload["simulate"] = {"fail_times": 1}
            if n in (7, 27):
                payload["simulate"] = "fail_always"
            publish(client, payload, attributes={"region": "eu" if n % 2 else "us"})
    wait_until(nothing_open, timeout=90, what="every delivery to finish")
    delivered = Delivery.objects.filter(subscription__name="billing-charge", state=DeliveryState.DELIVERED).count()
    dead_letters = DeadLetter.objects.filter(subscription__name="billing-charge").count()
    assert (delivered, dead_letters) == (38, 2)
    billing_id = Subscription.objects.get(name="billing-charge").pk
    screenshots = Path(settings.VAR_DIR)
    screenshots.mkdir(exist_ok=True)
    with chromium(sync_playwright) as browser:
        charts = check_pages(browser, web, delivered, dead_letters, billing_id, screenshots)
    print(f"charts={charts} screenshots={screenshots}/dashboard*.png")


def check_pages(
    browser: Any, web: WebServer, delivered: int, dead_letters: int, billing_id: int, screenshots: Path
) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{web.base_url}/admin/login/?next=/dashboard/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{web.base_url}/dashboard/")

    # The table refreshes by itself until it shows the ledger's final numbers.
    page.wait_for_function(
        """([delivered, dead]) => {
            const row = document.querySelector('tr[data-subscription="billing-charge"]');
            return row && row.querySelector('[data-field="delivered"]').textContent === String(delivered)
                && row.querySelector('[data-field="dead_letters"]').textContent === String(dead);
        }""",
        arg=[delivered, dead_letters],
        timeout=30_000,
    )
    assert table_cell(page, "inventory-reserve", "delivered") == "40"
    assert table_cell(page, "eu-vat", "delivered") == "20"
    assert page.locator('tr[data-topic="orders.created"] td[data-field="published"]').inner_text() == "40"
    assert page.get_attribute('tr[data-subscription="billing-charge"] td[data-field="dead_letters"] a', "href") == (
        f"/admin/deadletters/deadletter/?subscription__id__exact={billing_id}"
    )
    assert page.locator("canvas").count() == 6

    # Every chart has points; throughput and latency have values; the charts grow without a reload.
    charts = page.evaluate(
        """() => Object.fromEntries(Object.entries(window.switchboardDashboard.charts).map(([name, chart]) =>
            [name, {points: chart.data[0].length,
                    values: chart.data.slice(1).map(s => s.filter(v => v !== null && v > 0).length)}]))"""
    )
    assert all(chart["points"] >= 3 for chart in charts.values()), charts
    assert charts["throughput"]["values"][0] > 0 and charts["throughput"]["values"][1] > 0, charts
    assert charts["latency"]["values"][0] > 0, charts
    assert charts["errors"]["values"][0] > 0, charts  # retries and dead letters happened
    points = charts["throughput"]["points"]
    page.wait_for_function(
        "(n) => window.switchboardDashboard.charts.throughput.data[0].length > n", arg=points, timeout=15_000
    )
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)

    page.click('tr[data-subscription="billing-charge"] a')
    page.wait_for_url(f"{web.base_url}/dashboard/subscriptions/billing-charge/")
    page.wait_for_function(
        "() => window.switchboardDashboard.charts.depth.data[0].length >= 3"
        " && document.querySelectorAll('tr[data-subscription]').length === 1",
        timeout=15_000,
    )
    assert table_cell(page, "billing-charge", "delivered") == str(delivered)
    page.screenshot(path=str(screenshots / "dashboard-subscription.png"), full_page=True)
    return charts
