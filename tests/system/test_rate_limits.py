"""Rate limits through two gunicorn workers sharing one Redis: 429 with Retry-After once a limit is used up."""

import httpx

from tests.harness.stack import Stack
from tests.system.api import ORDERS, api_client


def test_publish_and_failed_keys_are_limited_across_workers(stack: Stack, demo_topology: None, api_key: str) -> None:
    web = stack.start_web(
        SWITCHBOARD_RATE_LIMIT_PUBLISH="5/m",
        SWITCHBOARD_RATE_LIMIT_API="off",
        SWITCHBOARD_RATE_LIMIT_AUTH_FAILURES="4/h",
    )
    with api_client(web, api_key) as client:
        published = [client.post(ORDERS, json={"payload": {"n": n}}).status_code for n in range(6)]
        limited = client.post(ORDERS, json={"payload": {}})
        reads = client.get("/api/v1/subscriptions").status_code
    with httpx.Client(base_url=web.base_url, headers={"Authorization": "Bearer sb_guess_" + "g" * 40}) as guesser:
        guesses = [guesser.get("/api/v1/subscriptions").status_code for _ in range(5)]

    assert published == [202] * 5 + [429]
    assert (limited.status_code, limited.headers["Retry-After"], limited.headers["Content-Type"]) == (
        429,
        "12",
        "application/problem+json",
    )
    assert reads == 200
    assert guesses == [401] * 4 + [429]
