"""Bad input through gunicorn answers 4xx problem details, never 500; chunked bodies are read."""

from collections.abc import Iterator

import httpx

from apps.publishing.models import Message
from tests.harness.stack import Stack
from tests.publishing.bad_inputs import BAD_BODIES, BAD_MESSAGES, batch_of
from tests.system.api import ORDERS, api_client

PROBLEM = "application/problem+json"
BAD = dict(BAD_MESSAGES)


def test_every_bad_input_answers_4xx_single_and_batch(client: httpx.Client) -> None:
    wrong: list[str] = []
    for name, body in BAD_MESSAGES + BAD_BODIES:
        single = client.post(ORDERS, content=body, headers={"Content-Type": "application/json"})
        if not (400 <= single.status_code < 500 and single.headers["Content-Type"] == PROBLEM):
            wrong.append(f"{name}: {single.status_code} {single.text[:200]}")
    for name, body in BAD_MESSAGES:
        batch = client.post(f"{ORDERS}/batch", content=batch_of(body), headers={"Content-Type": "application/json"})
        item_failed = batch.status_code == 202 and 400 <= batch.json()["results"][1]["error"]["status"] < 500
        if not (item_failed or batch.status_code == 400):
            wrong.append(f"batch {name}: {batch.status_code} {batch.text[:200]}")
    nul_topic = client.post("/api/v1/topics/a%00b/messages", json={"payload": {}})
    if nul_topic.status_code != 400:
        wrong.append(f"nul in the topic: {nul_topic.status_code}")
    assert wrong == []
    # Only the good first items of the batches whose bad item failed alone were written.
    assert Message.objects.filter(payload={"ok": 1}).count() == Message.objects.count()


def test_a_chunked_body_is_read(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"payload": {"order_id": '
        yield b'"C-1"}}'

    response = client.post(ORDERS, content=chunks(), headers={"Content-Type": "application/json"})

    assert response.status_code == 202, response.text
    assert Message.objects.get(pk=response.json()["id"]).payload == {"order_id": "C-1"}


def test_production_settings_answer_problem_details_under_api(stack: Stack, demo_topology: None, api_key: str) -> None:
    web = stack.start_web(
        DJANGO_SETTINGS_MODULE="project.settings.production",
        DJANGO_SECRET_KEY="system-test-production-secret",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="false",
        SWITCHBOARD_REQUIRE_AOF="true",
    )
    with api_client(web, api_key) as client:
        answers = {
            "unknown api path": client.get("/api/nothing"),
            "nul payload": client.post(
                ORDERS, content=BAD["nul in a payload string"], headers={"Content-Type": "application/json"}
            ),
            "deep payload": client.post(
                ORDERS, content=BAD["payload nested 1000 deep"], headers={"Content-Type": "application/json"}
            ),
            "nul topic": client.post("/api/v1/topics/a%00b/messages", json={"payload": {}}),
        }

    statuses = {name: (r.status_code, r.headers["Content-Type"]) for name, r in answers.items()}
    assert statuses == {
        "unknown api path": (404, PROBLEM),
        "nul payload": (400, PROBLEM),
        "deep payload": (400, PROBLEM),
        "nul topic": (400, PROBLEM),
    }
