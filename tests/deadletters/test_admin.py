"""Tests for the dead-letter admin: list, inspect, and replay/purge through a confirmation page."""

import datetime

import pytest
from django.contrib.admin import helpers
from django.test import Client

from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery.models import Delivery, DeliveryState
from apps.topology.models import Subscription, Topic
from tests.deadletters.builders import dead_letter, unroutable_dead_letter

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/deadletters/deadletter/"


def action(client: Client, name: str, ids: list[int], url: str = CHANGELIST, **fields: str) -> object:
    """Post an admin action as the changelist does (`index` present) or as the confirmation page does."""
    data = {"action": name, helpers.ACTION_CHECKBOX_NAME: [str(pk) for pk in ids], **fields}
    return client.post(url, data)


def test_changelist_lists_and_filters_dead_letters(
    admin_client: Client, billing: Subscription, inventory: Subscription
) -> None:
    shown = dead_letter(billing)
    dead_letter(inventory, reason=DeadLetterReason.PERMANENT)

    response = admin_client.get(f"{CHANGELIST}?reason=exhausted&replayed=no")

    assert response.status_code == 200
    assert [dl.pk for dl in response.context["cl"].result_list] == [shown.pk]
    html = response.content.decode()
    assert "apps.core.errors.RetryableError: simulated failure (fail_always)" in html
    assert 'value="replay_selected"' in html
    assert 'value="purge_selected"' in html
    assert 'value="delete_selected"' not in html


def test_changelist_searches_by_message_id_and_error_text(admin_client: Client, billing: Subscription) -> None:
    wanted, other = dead_letter(billing), dead_letter(billing)
    DeadLetter.objects.filter(pk=other.pk).update(last_error="httpx.ConnectTimeout: timed out")

    by_id = admin_client.get(CHANGELIST, {"q": str(wanted.message_id)})
    by_text = admin_client.get(CHANGELIST, {"q": "ConnectTimeout"})

    assert [dl.pk for dl in by_id.context["cl"].result_list] == [wanted.pk]
    assert [dl.pk for dl in by_text.context["cl"].result_list] == [other.pk]


def test_change_page_shows_the_traceback_preformatted_and_offers_no_save(
    admin_client: Client, billing: Subscription
) -> None:
    dl = dead_letter(billing, payload={"order_id": "o-9"})

    response = admin_client.get(f"{CHANGELIST}{dl.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<pre style="white-space: pre-wrap">Traceback (most recent call last):\n' in html
    assert "<pre>{\n  &quot;order_id&quot;: &quot;o-9&quot;\n}</pre>" in html
    assert 'name="_save"' not in html
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_replay_action_first_shows_what_will_happen(admin_client: Client, billing: Subscription, orders: Topic) -> None:
    ready = [dead_letter(billing) for _ in range(2)]
    delivered = dead_letter(billing, delivery_state=DeliveryState.DELIVERED)
    kept = unroutable_dead_letter(orders)
    ids = [dl.pk for dl in [*ready, delivered, kept]]

    response = action(admin_client, "replay_selected", ids, index="0")

    assert response.status_code == 200  # type: ignore[attr-defined]
    html = response.content.decode()  # type: ignore[attr-defined]
    assert "You selected 4 dead letters. Of these:" in html
    assert "<li><strong>2</strong> will be replayed: the delivery starts again from attempt 1</li>" in html
    assert "<li><strong>1</strong> are unroutable: their message is routed again" in html
    assert "<li><strong>1</strong> are skipped: their delivery succeeded since</li>" in html
    assert "at the default 50 per second, these 2 go out over\n0.0 s." in html
    assert 'name="rate_per_second" value="50.0"' in html
    assert 'name="confirm" value="yes"' in html
    for pk in ids:
        assert f'name="{helpers.ACTION_CHECKBOX_NAME}" value="{pk}"' in html
    assert Delivery.objects.filter(state=DeliveryState.DEAD).count() == 2


def test_confirming_the_replay_replays_at_the_chosen_rate(admin_client: Client, billing: Subscription) -> None:
    dead = [dead_letter(billing) for _ in range(3)]

    response = action(admin_client, "replay_selected", [dl.pk for dl in dead], confirm="yes", rate_per_second="2")

    assert response.status_code == 302  # type: ignore[attr-defined]
    deliveries = list(Delivery.objects.order_by("pk"))
    assert [(d.state, d.attempts, d.replayed_from_id) for d in deliveries] == [
        (DeliveryState.PENDING, 0, dl.pk) for dl in dead
    ]
    due = [d.not_before for d in deliveries]
    assert [d - due[0] for d in due] == [datetime.timedelta(seconds=s) for s in (0, 0.5, 1)]  # type: ignore[operator]
    messages = [str(m) for m in admin_client.get(CHANGELIST).context["messages"]]
    assert messages == [
        "Replayed 3 dead letter(s) at up to 2 per second; rerouted 0 unroutable message(s) (0 still unroutable);"
        " skipped 0."
    ]


def test_a_bad_rate_shows_the_confirmation_again_with_the_error(admin_client: Client, billing: Subscription) -> None:
    dl = dead_letter(billing)

    response = action(admin_client, "replay_selected", [dl.pk], confirm="yes", rate_per_second="5000")

    assert response.status_code == 200  # type: ignore[attr-defined]
    assert "Ensure this value is less than or equal to 1000.0." in response.content.decode()  # type: ignore[attr-defined]
    assert Delivery.objects.get().state == DeliveryState.DEAD


def test_replay_of_all_matching_a_changelist_filter(
    admin_client: Client, billing: Subscription, inventory: Subscription
) -> None:
    for _ in range(3):
        dead_letter(billing)
    other = dead_letter(inventory)
    url = f"{CHANGELIST}?subscription__id__exact={billing.pk}"

    confirmation = action(admin_client, "replay_selected", [other.pk], url=url, index="0", select_across="1")
    html = confirmation.content.decode()  # type: ignore[attr-defined]
    assert "You selected 3 dead letters." in html
    assert 'name="select_across" value="1"' in html

    action(admin_client, "replay_selected", [other.pk], url=url, select_across="1", confirm="yes", rate_per_second="50")

    assert Delivery.objects.filter(subscription=billing, state=DeliveryState.PENDING).count() == 3
    assert Delivery.objects.get(subscription=inventory).state == DeliveryState.DEAD


def test_purge_action_confirms_then_deletes(admin_client: Client, billing: Subscription) -> None:
    gone, kept = dead_letter(billing), dead_letter(billing)

    confirmation = action(admin_client, "purge_selected", [gone.pk], index="0")
    assert confirmation.status_code == 200  # type: ignore[attr-defined]
    assert "Are you sure you want to purge 1 dead letter?" in confirmation.content.decode()  # type: ignore[attr-defined]
    assert DeadLetter.objects.count() == 2

    done = action(admin_client, "purge_selected", [gone.pk], confirm="yes")

    assert done.status_code == 302  # type: ignore[attr-defined]
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [kept.pk]
    assert Delivery.objects.count() == 2


def test_deleting_from_the_change_page_purges_through_the_service(admin_client: Client, billing: Subscription) -> None:
    dl = dead_letter(billing)

    response = admin_client.post(f"{CHANGELIST}{dl.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert DeadLetter.objects.count() == 0
    assert Delivery.objects.count() == 1


def test_a_staff_user_who_may_only_view_cannot_replay_or_purge(client: Client, billing: Subscription) -> None:
    from django.contrib.auth.models import Permission, User

    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_deadletter"))
    client.force_login(viewer)
    dl = dead_letter(billing)

    page = client.get(CHANGELIST).content.decode()
    response = action(client, "replay_selected", [dl.pk], confirm="yes", rate_per_second="50")

    assert 'value="replay_selected"' not in page
    assert response.status_code == 200  # type: ignore[attr-defined]  # the changelist again: no such action
    assert Delivery.objects.get().state == DeliveryState.DEAD
