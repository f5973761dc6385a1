"""Tests for the dead-letter REST API: list, inspect, replay and purge, and every error they answer."""

from typing import Any

import orjson
import pytest
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery.models import Delivery, DeliveryState
from apps.topology.models import Subscription, Topic
from tests.deadletters.builders import T0, TRACEBACK, dead_letter, unroutable_dead_letter

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/dead-letters"
REPLAY_URL = "/api/v1/dead-letters/replay"
PROBLEM_TYPE = "https://switchboard.dev/problems/"
LAST_LINE = "apps.core.errors.RetryableError: simulated failure (fail_always)"
NO_SKIPS = {"in_flight": 0, "delivered": 0, "superseded": 0, "already_rerouted": 0, "expired": 0}


def detail_url(pk: int) -> str:
    return f"/api/v1/dead-letters/{pk}"


def send(client: APIClient, method: str, url: str, body: Any) -> Any:
    return client.generic(method.upper(), url, data=orjson.dumps(body).decode(), content_type="application/json")


def body_of(response: Any, status: int) -> Any:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    return orjson.loads(response.content)


def problem_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert `response` is RFC 9457 problem details with this status and type; return its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = orjson.loads(response.content)
    assert body["type"] == PROBLEM_TYPE + code
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def summary(dl: DeadLetter, subscription: str | None = "billing-charge") -> dict[str, Any]:
    return {
        "id": dl.pk,
        "message_id": str(dl.message_id),
        "topic": "orders.created",
        "subscription": subscription,
        "reason": dl.reason,
        "attempts": dl.attempts,
        "last_error": LAST_LINE if dl.last_error else None,
        "created_at": dl.created_at.isoformat().replace("+00:00", "Z"),
        "replayed_at": dl.replayed_at.isoformat().replace("+00:00", "Z") if dl.replayed_at else None,
    }


# Authentication: nothing answers without an API key.


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", LIST_URL), ("delete", LIST_URL), ("post", REPLAY_URL), ("get", detail_url(1)), ("delete", detail_url(1))],
)
def test_every_endpoint_needs_an_api_key(api_client: APIClient, billing: Subscription, method: str, url: str) -> None:
    dead_letter(billing)

    response = send(api_client, method, url, {"ids": [1]})

    problem_of(response, 401, "not-authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="switchboard"'
    assert DeadLetter.objects.count() == 1
    assert Delivery.objects.get().state == DeliveryState.DEAD


# List.


def test_list_shows_light_summaries_newest_first(authenticated_client: APIClient, billing: Subscription) -> None:
    old = dead_letter(billing, created_at=T0)
    new = dead_letter(billing, reason=DeadLetterReason.PERMANENT, attempts=1)

    body = body_of(authenticated_client.get(LIST_URL), 200)

    assert body == {"count": 2, "next": None, "previous": None, "results": [summary(new), summary(old)]}


def test_list_shows_unroutable_dead_letters_without_a_subscription(
    authenticated_client: APIClient, orders: Topic
) -> None:
    kept = unroutable_dead_letter(orders)

    body = body_of(authenticated_client.get(LIST_URL), 200)

    assert body["results"] == [summary(kept, subscription=None)]


def test_list_filters_by_query_parameters(
    authenticated_client: APIClient, billing: Subscription, inventory: Subscription
) -> None:
    wanted = dead_letter(billing, created_at=T0)
    dead_letter(billing, created_at=T0, replayed_at=T0)
    dead_letter(inventory, created_at=T0)
    dead_letter(billing, reason=DeadLetterReason.PERMANENT, created_at=T0)

    query = "subscription=billing-charge&reason=exhausted&replayed=false&created_before=2026-11-01T12:00:01Z"
    body = body_of(authenticated_client.get(f"{LIST_URL}?{query}"), 200)

    assert [r["id"] for r in body["results"]] == [wanted.pk]
    assert body["count"] == 1


def test_list_filters_by_message_id(authenticated_client: APIClient, billing: Subscription) -> None:
    wanted, _ = dead_letter(billing), dead_letter(billing)

    body = body_of(authenticated_client.get(f"{LIST_URL}?message_id={wanted.message_id}"), 200)

    assert [r["id"] for r in body["results"]] == [wanted.pk]


def test_list_pages_with_limit_and_offset(authenticated_client: APIClient, billing: Subscription) -> None:
    made = [dead_letter(billing) for _ in range(5)]
    newest_first = [dl.pk for dl in reversed(made)]

    body = body_of(authenticated_client.get(f"{LIST_URL}?reason=exhausted&limit=2&offset=2"), 200)

    assert body["count"] == 5
    assert [r["id"] for r in body["results"]] == newest_first[2:4]
    assert body["next"] == "http://testserver/api/v1/dead-letters?limit=2&offset=4&reason=exhausted"
    assert body["previous"] == "http://testserver/api/v1/dead-letters?limit=2&reason=exhausted"


def test_list_defaults_to_50_per_page_and_allows_up_to_500(
    authenticated_client: APIClient, billing: Subscription
) -> None:
    for _ in range(51):
        dead_letter(billing)

    default = body_of(authenticated_client.get(LIST_URL), 200)
    largest = body_of(authenticated_client.get(f"{LIST_URL}?limit=500"), 200)

    assert (len(default["results"]), default["next"]) == (
        50,
        "http://testserver/api/v1/dead-letters?limit=50&offset=50",
    )
    assert (len(largest["results"]), largest["next"]) == (51, None)


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("limit=501", {"limit": ["Must be a whole number from 1 to 500."]}),
        ("limit=0", {"limit": ["Must be a whole number from 1 to 500."]}),
        ("limit=ten", {"limit": ["Must be a whole number from 1 to 500."]}),
        ("offset=-1", {"offset": ["Must be a whole number from 0 to 9223372036854775807."]}),
        ("offset=1.5", {"offset": ["Must be a whole number from 0 to 9223372036854775807."]}),
        ("reason=tired", {"reason": ["Select a valid choice. tired is not one of the available choices."]}),
        ("subscription=nobody", {"subscription": ["There is no subscription named nobody."]}),
        ("topic=no.such", {"topic": ["There is no topic named no.such."]}),
        ("created_after=soon", {"created_after": ["Enter a valid date/time."]}),
        ("replayed=1", {"replayed": ["Must be true or false."]}),
        ("message_id=abc", {"message_id": ["Enter a valid UUID."]}),
        ("reason=", {"reason": ["May not be blank; leave the filter out instead."]}),
        ("reason=exhausted&reason=permanent", {"reason": ["Give this filter once."]}),
        (
            "sort=newest",
            {
                "sort": [
                    "Unknown filter; the filters are subscription, topic, reason, created_after, created_before,"
                    " replayed, message_id."
                ]
            },
        ),
    ],
)
def test_list_refuses_bad_query_parameters_naming_them(
    authenticated_client: APIClient, billing: Subscription, query: str, errors: dict[str, list[str]]
) -> None:
    body = problem_of(authenticated_client.get(f"{LIST_URL}?{query}"), 400, "invalid")

    assert body["errors"] == errors
    (name,) = errors
    assert body["detail"].startswith(f"{name}: ")


# Detail.


def test_detail_shows_everything_including_the_traceback_and_the_replay(
    authenticated_client: APIClient, billing: Subscription
) -> None:
    dl = dead_letter(billing, payload={"order_id": "o-7", "total": "3"}, attributes={"region": "eu"})
    send(authenticated_client, "post", REPLAY_URL, {"ids": [dl.pk]})
    dl.refresh_from_db()
    delivery = Delivery.objects.get()

    body = body_of(authenticated_client.get(detail_url(dl.pk)), 200)

    assert body == {
        **summary(dl),
        "last_error": TRACEBACK,
        "delivery_id": delivery.pk,
        "payload": {"order_id": "o-7", "total": "3"},
        "attributes": {"region": "eu"},
        "replays": [
            {
                "delivery_id": delivery.pk,
                "subscription": "billing-charge",
                "state": "pending",
                "attempts": 0,
                "last_error": None,
                "not_before": delivery.not_before.isoformat().replace("+00:00", "Z"),  # type: ignore[union-attr]
            }
        ],
    }


def test_detail_of_a_dead_letter_never_replayed_has_no_replays(
    authenticated_client: APIClient, billing: Subscription
) -> None:
    dl = dead_letter(billing)

    body = body_of(authenticated_client.get(detail_url(dl.pk)), 200)

    assert (body["replays"], body["replayed_at"]) == ([], None)


@pytest.mark.parametrize("method", ["get", "delete"])
def test_an_unknown_id_is_a_404_problem(authenticated_client: APIClient, billing: Subscription, method: str) -> None:
    dl = dead_letter(billing)

    body = problem_of(getattr(authenticated_client, method)(detail_url(dl.pk + 1)), 404, "unknown-dead-letter")

    assert (body["title"], body["detail"]) == ("Unknown dead letter", f"There is no dead letter with id {dl.pk + 1}.")
    assert DeadLetter.objects.count() == 1


def test_a_non_numeric_id_is_a_404_problem(authenticated_client: APIClient) -> None:
    problem_of(authenticated_client.get(f"{LIST_URL}/abc"), 404, "not-found")


@pytest.mark.parametrize(("method", "url"), [("put", LIST_URL), ("patch", detail_url(1)), ("get", REPLAY_URL)])
def test_other_methods_are_a_405_problem(authenticated_client: APIClient, method: str, url: str) -> None:
    problem_of(send(authenticated_client, method, url, {}), 405, "method-not-allowed")


# Replay.


def test_replay_by_ids_answers_202_with_the_report(authenticated_client: APIClient, billing: Subscription) -> None:
    first, second, untouched = dead_letter(billing), dead_letter(billing), dead_letter(billing)

    body = body_of(send(authenticated_client, "post", REPLAY_URL, {"ids": [first.pk, second.pk]}), 202)

    deliveries = {d.replayed_from_id: d for d in Delivery.objects.exclude(replayed_from=None)}
    assert body == {
        "selected": 2,
        "replayed": 2,
        "rerouted": 0,
        "still_unroutable": 0,
        "skipped": NO_SKIPS,
        "rate_per_second": 50.0,
        "last_due_at": deliveries[second.pk].not_before.isoformat().replace("+00:00", "Z"),  # type: ignore[union-attr]
    }
    assert {pk: (d.state, d.attempts) for pk, d in deliveries.items()} == {
        first.pk: (DeliveryState.PENDING, 0),
        second.pk: (DeliveryState.PENDING, 0),
    }
    assert untouched.delivery_id is not None
    assert Delivery.objects.get(pk=untouched.delivery_id).state == DeliveryState.DEAD


def test_replay_by_filter_with_a_rate(
    authenticated_client: APIClient, billing: Subscription, inventory: Subscription
) -> None:
    for _ in range(3):
        dead_letter(billing)
    dead_letter(inventory)

    body = body_of(
        send(
            authenticated_client,
            "post",
            REPLAY_URL,
            {"filter": {"subscription": "billing-charge", "replayed": False}, "rate_per_second": 200},
        ),
        202,
    )

    assert (body["selected"], body["replayed"], body["rate_per_second"]) == (3, 3, 200.0)
    due = list(Delivery.objects.filter(subscription=billing).order_by("pk").values_list("not_before", flat=True))
    assert due == [due[0]] * 3  # 200 per second: 20 per step of 0.1 s
    assert parse_datetime(body["last_due_at"]) == due[-1]
    assert Delivery.objects.get(subscription=inventory).state == DeliveryState.DEAD


def test_replay_all_needs_an_explicit_all(authenticated_client: APIClient, billing: Subscription) -> None:
    dead_letter(billing), dead_letter(billing)

    body = body_of(send(authenticated_client, "post", REPLAY_URL, {"filter": {}, "all": True}), 202)

    assert (body["selected"], body["replayed"]) == (2, 2)


def test_replay_reports_skipped_and_rerouted(
    authenticated_client: APIClient, billing: Subscription, orders: Topic
) -> None:
    dead_letter(billing, delivery_state=DeliveryState.DELIVERED)
    unroutable_dead_letter(orders)

    body = body_of(send(authenticated_client, "post", REPLAY_URL, {"filter": {}, "all": True}), 202)

    assert body == {
        "selected": 2,
        "replayed": 0,
        "rerouted": 1,
        "still_unroutable": 0,
        "skipped": {**NO_SKIPS, "delivered": 1},
        "rate_per_second": 50.0,
        "last_due_at": None,
    }


ONE_OF = {"non_field_errors": ['Send exactly one of "ids" or "filter".']}
NEED_ALL = {"all": ['An empty filter selects every dead letter: send "all": true to mean it.']}
ONLY_EMPTY = {"all": ['"all": true goes only with an empty filter {}.']}
FILTERS = "subscription, topic, reason, created_after, created_before, replayed, message_id"
BAD_REASON = ["Select a valid choice. tired is not one of the available choices."]
BLANK = ["May not be blank; leave the filter out instead."]
SELECTION_ERRORS = [
    ({}, ONE_OF),
    ({"ids": [1], "filter": {"reason": "exhausted"}}, ONE_OF),
    ({"all": True}, ONE_OF),
    ({"filter": {}}, NEED_ALL),
    ({"filter": {}, "all": False}, NEED_ALL),
    ({"filter": {"reason": "exhausted"}, "all": True}, ONLY_EMPTY),
    ({"ids": [1], "all": True}, ONLY_EMPTY),
    ({"ids": []}, {"ids": ["Ensure this field has at least 1 elements."]}),
    ({"ids": "1,2"}, {"ids": ['Expected a list of items but got type "str".']}),
    ({"ids": [0]}, {"ids": {"0": ["Ensure this value is greater than or equal to 1."]}}),
    ({"ids": list(range(1, 10_002))}, {"ids": ["Ensure this field has no more than 10000 elements."]}),
    ({"filter": ["reason"]}, {"filter": ['Expected a dictionary of items but got type "list".']}),
    ({"filter": {"reason": "tired"}}, {"filter": {"reason": BAD_REASON}}),
    ({"filter": {"reasons": "exhausted"}}, {"filter": {"reasons": [f"Unknown filter; the filters are {FILTERS}."]}}),
    ({"filter": {"subscription": ""}}, {"filter": {"subscription": BLANK}}),
    ({"filter": {"replayed": "no"}}, {"filter": {"replayed": ["Must be true or false."]}}),
    ({"ids": [1], "everything": True}, {"everything": ["Unknown field."]}),
    (["ids"], {"non_field_errors": ["The body must be a JSON object."]}),
]


@pytest.mark.parametrize(("body", "errors"), SELECTION_ERRORS)
def test_replay_refuses_a_bad_selection_naming_the_field(
    authenticated_client: APIClient, billing: Subscription, body: Any, errors: dict[str, Any]
) -> None:
    dead_letter(billing)

    problem = problem_of(send(authenticated_client, "post", REPLAY_URL, body), 400, "invalid")

    assert problem["errors"] == errors
    assert Delivery.objects.get().state == DeliveryState.DEAD


@pytest.mark.parametrize(
    ("rate", "errors"),
    [
        (0, ["Must be above 0."]),
        (-5, ["Must be above 0."]),
        (1000.5, ["Ensure this value is less than or equal to 1000.0."]),
        ("fast", ["Must be a number, not str."]),
        ("NaN", ["Must be a number, not str."]),
        (True, ["Must be a number, not bool."]),
    ],
)
def test_replay_refuses_a_rate_out_of_bounds(
    authenticated_client: APIClient, billing: Subscription, rate: Any, errors: list[str]
) -> None:
    dl = dead_letter(billing)

    body = {"ids": [dl.pk], "rate_per_second": rate}
    problem = problem_of(send(authenticated_client, "post", REPLAY_URL, body), 400, "invalid")

    assert problem["errors"] == {"rate_per_second": errors}
    assert Delivery.objects.get().state == DeliveryState.DEAD


def test_replay_of_unknown_ids_is_a_404_naming_them_and_replays_nothing(
    authenticated_client: APIClient, billing: Subscription
) -> None:
    dl = dead_letter(billing)

    response = send(authenticated_client, "post", REPLAY_URL, {"ids": [dl.pk, dl.pk + 2, dl.pk + 1]})

    body = problem_of(response, 404, "unknown-dead-letter")
    assert body["errors"] == {"ids": [f"There is no dead letter with id {dl.pk + 1}, {dl.pk + 2}."]}
    assert Delivery.objects.get().state == DeliveryState.DEAD
    assert DeadLetter.objects.get().replayed_at is None


def test_replay_of_a_body_that_is_not_json_is_a_400_problem(authenticated_client: APIClient) -> None:
    response = authenticated_client.post(REPLAY_URL, data=b"{ids", content_type="application/json")

    problem_of(response, 400, "parse-error")


# Purge.


def test_delete_one_answers_204_and_deletes_it(authenticated_client: APIClient, billing: Subscription) -> None:
    gone, kept = dead_letter(billing), dead_letter(billing)

    response = authenticated_client.delete(detail_url(gone.pk))

    assert (response.status_code, response.content) == (204, b"")
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [kept.pk]
    assert Delivery.objects.count() == 2


def test_purge_by_ids_answers_the_count(authenticated_client: APIClient, billing: Subscription) -> None:
    first, second, kept = dead_letter(billing), dead_letter(billing), dead_letter(billing)

    body = body_of(send(authenticated_client, "delete", LIST_URL, {"ids": [first.pk, second.pk]}), 200)

    assert body == {"purged": 2}
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [kept.pk]


def test_purge_by_filter_answers_the_count(
    authenticated_client: APIClient, billing: Subscription, inventory: Subscription
) -> None:
    dead_letter(billing), dead_letter(billing, replayed_at=T0)
    kept = dead_letter(inventory)

    body = body_of(send(authenticated_client, "delete", LIST_URL, {"filter": {"subscription": "billing-charge"}}), 200)

    assert body == {"purged": 2}
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [kept.pk]


def test_purge_all_needs_an_explicit_all(authenticated_client: APIClient, billing: Subscription) -> None:
    dead_letter(billing), dead_letter(billing)

    refused = send(authenticated_client, "delete", LIST_URL, {"filter": {}})
    problem_of(refused, 400, "invalid")
    assert DeadLetter.objects.count() == 2

    body = body_of(send(authenticated_client, "delete", LIST_URL, {"filter": {}, "all": True}), 200)

    assert body == {"purged": 2}
    assert DeadLetter.objects.count() == 0


def test_purge_without_a_body_is_a_400_problem(authenticated_client: APIClient, billing: Subscription) -> None:
    dead_letter(billing)

    body = problem_of(authenticated_client.delete(LIST_URL), 400, "invalid")

    assert body["errors"] == {"non_field_errors": ['Send exactly one of "ids" or "filter".']}
    assert DeadLetter.objects.count() == 1


@pytest.mark.parametrize(("body", "errors"), SELECTION_ERRORS)
def test_purge_refuses_a_bad_selection_naming_the_field(
    authenticated_client: APIClient, billing: Subscription, body: Any, errors: dict[str, Any]
) -> None:
    dead_letter(billing)

    problem = problem_of(send(authenticated_client, "delete", LIST_URL, body), 400, "invalid")

    assert problem["errors"] == errors
    assert DeadLetter.objects.count() == 1


def test_purge_refuses_a_rate(authenticated_client: APIClient, billing: Subscription) -> None:
    dl = dead_letter(billing)

    problem = problem_of(
        send(authenticated_client, "delete", LIST_URL, {"ids": [dl.pk], "rate_per_second": 5}), 400, "invalid"
    )

    assert problem["errors"] == {"rate_per_second": ["Unknown field."]}


def test_purge_of_unknown_ids_is_a_404_and_purges_nothing(
    authenticated_client: APIClient, billing: Subscription
) -> None:
    dl = dead_letter(billing)

    body = problem_of(
        send(authenticated_client, "delete", LIST_URL, {"ids": [dl.pk, dl.pk + 1]}), 404, "unknown-dead-letter"
    )

    assert body["errors"] == {"ids": [f"There is no dead letter with id {dl.pk + 1}."]}
    assert DeadLetter.objects.count() == 1


def test_the_openapi_schema_documents_the_dead_letter_endpoints(api_client: APIClient) -> None:
    import yaml

    schema = yaml.safe_load(api_client.get("/api/schema/").content)

    assert set(schema["paths"]["/api/v1/dead-letters"]) == {"get", "delete"}
    assert set(schema["paths"]["/api/v1/dead-letters/replay"]) == {"post"}
    assert set(schema["paths"]["/api/v1/dead-letters/{dead_letter_id}"]) == {"get", "delete"}
    parameters = {p["name"] for p in schema["paths"]["/api/v1/dead-letters"]["get"]["parameters"]}
    assert parameters == {*FILTERS.split(", "), "limit", "offset"}
