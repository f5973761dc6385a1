"""Bad inputs for the publish endpoints, as raw JSON text: each must answer 4xx, never 500.

Shared by the in-process tests (tests/publishing/test_bad_input.py, SQLite and
PostgreSQL) and the same table through gunicorn (tests/system/test_bad_input.py).
"""

DEEP = "[" * 1000 + "]" * 1000
GOOD_ITEM = '{"payload": {"ok": 1}}'

# (name, the JSON text of one message body)
BAD_MESSAGES: list[tuple[str, str]] = [
    ("nul in a payload string", r'{"payload": {"a": "x\u0000y"}}'),
    ("nul in a payload key", r'{"payload": {"a\u0000": 1}}'),
    ("nul deep in the payload", r'{"payload": [{"b": ["ok", "\u0000"]}]}'),
    ("nul in an attribute name", r'{"payload": {}, "attributes": {"a\u0000": "v"}}'),
    ("nul in an attribute value", r'{"payload": {}, "attributes": {"a": "v\u0000"}}'),
    ("nul in the key", r'{"payload": {}, "key": "k\u0000"}'),
    ("ttl NaN", '{"payload": {}, "ttl_seconds": "NaN"}'),
    ("ttl Infinity", '{"payload": {}, "ttl_seconds": "Infinity"}'),
    ("ttl 1e308", '{"payload": {}, "ttl_seconds": 1e308}'),
    ("ttl true", '{"payload": {}, "ttl_seconds": true}'),
    ("delay true", '{"payload": {}, "delay_seconds": true}'),
    ("delay NaN", '{"payload": {}, "delay_seconds": "NaN"}'),
    ("delay 1e308", '{"payload": {}, "delay_seconds": 1e308}'),
    ("delay -Infinity", '{"payload": {}, "delay_seconds": "-Infinity"}'),
    ("payload nested 1000 deep", '{"payload": ' + DEEP + "}"),
    ("integer beyond 64 bits", '{"payload": {"n": 18446744073709551616}}'),
    ("integer just beyond signed 64 bits", '{"payload": {"n": 9223372036854775808}}'),
    ("negative integer beyond 64 bits", '{"payload": {"n": -9223372036854775809}}'),
    ("deliver_at malformed", '{"payload": {}, "deliver_at": "tomorrow"}'),
    ("deliver_at year 9999", '{"payload": {}, "deliver_at": "9999-12-31T23:59:59Z"}'),
    ("deliver_at before year 1 in UTC", '{"payload": {}, "deliver_at": "0001-01-01T00:00:00+01:00"}'),
    ("deliver_at without a zone", '{"payload": {}, "deliver_at": "2030-01-01T00:00:00"}'),
    ("key over 200 characters", '{"payload": {}, "key": "' + "k" * 201 + '"}'),
    ("payload null", '{"payload": null}'),
]

# Bodies refused whole (the parser's checks): not an item of a batch but the request.
BAD_BODIES: list[tuple[str, str]] = [
    ("nesting beyond the parser's limit", "[" * 2000 + "]" * 2000),
    ("NaN literal", '{"payload": NaN}'),
    ("lone surrogate", r'{"payload": "\ud800"}'),
]


def batch_of(message: str) -> str:
    """A batch with a good item, then the bad one."""
    return '{"messages": [' + GOOD_ITEM + ", " + message + "]}"
