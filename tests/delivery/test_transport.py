"""Tests for apps.delivery.transport against a real HTTP server on 127.0.0.1 (no mocks).

Every test records each outgoing connection and fails on any to a non-loopback address:
nothing here sends traffic off the machine, and a refused request connects nowhere.
"""

import email.utils
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from apps.delivery.transport import (
    RESPONSE_BODY_LIMIT,
    Outcome,
    WebhookResult,
    forbidden_reason,
    parse_retry_after,
    webhook_post,
)

BODY = b'{"id":"m-1","payload":{"order_id":"42"}}'

# A self-signed certificate for "localhost" (valid until 2126) and its key, for the TLS
# test only: no public CA signed it, so a verifying client must refuse it.
TEST_CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIIBlTCCATugAwIBAgIUUFhl+AlTWJux3G303WHpaBSSmlUwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyOTAwMjk0NVoYDzIxMjYxMTA1
MDAyOTQ1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAROH+UGZCFIlZu0FBWnW/f8SPzV1eEL+aDGKbRZE21Gzdk5USLz6b59
l8nTeSyrx78NvUC0DgMRJ2urmsFIWws/o2kwZzAdBgNVHQ4EFgQUSnG5g9B1s6gn
8tQbFsaFjvspHzcwHwYDVR0jBBgwFoAUSnG5g9B1s6gn8tQbFsaFjvspHzcwDwYD
VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID
SAAwRQIgN4X/b7VQ1acdfA53VUJWlfL6KgV9c6gCieDS4jTh57MCIQC0G7OtzQNL
zXm8KNkZJnH1DT/wS3GakYOlcB+3h3vpsg==
-----END CERTIFICATE-----
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCGJFfOtYcPtfP4al
+j8L8kpb8VeQomSh6GR0T7d6YjehRANCAAROH+UGZCFIlZu0FBWnW/f8SPzV1eEL
+aDGKbRZE21Gzdk5USLz6b59l8nTeSyrx78NvUC0DgMRJ2urmsFIWws/
-----END PRIVATE KEY-----
"""


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Ignore a client that hung up (the timeout test does so on purpose)."""


class LocalServer:
    """A real HTTP server on 127.0.0.1 in a thread; answers each path with its Reply and records requests."""

    def __init__(self, *, certificate: Path | None = None) -> None:
        self.replies: dict[str, Reply] = {}
        self.requests: list[Received] = []
        # With TLS: the server name (SNI) each client asked for in its handshake.
        self.server_names: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
                reply = server.replies.get(self.path, Reply())
                time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                """Keep test output quiet."""

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate)
            context.sni_callback = lambda _sock, name, _context: server.server_names.append(name)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def start(self) -> "LocalServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    local = LocalServer().start()
    yield local
    local.stop()


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the address of every outgoing TCP connection; fail the test on a non-loopback one."""
    made: list[str] = []
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])  # type: ignore[index]
            made.append(host)
            if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
                raise AssertionError(f"a test tried to connect to {address}")
        real_connect(sock, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    return made


def post(url: str, *, allowed_hosts: tuple[str, ...] = ("127.0.0.1",), read_timeout: float = 5.0) -> WebhookResult:
    return webhook_post(
        url=url,
        body=BODY,
        headers={"Content-Type": "application/json", "webhook-id": "m-1"},
        connect_timeout=2.0,
        read_timeout=read_timeout,
        allowed_hosts=allowed_hosts,
    )


def summary(result: WebhookResult) -> tuple[object, ...]:
    """The fields of a result that do not depend on timing."""
    return (
        result.outcome,
        result.status_code,
        result.error,
        result.response_body,
        result.retry_after,
        result.address,
    )


def test_2xx_is_a_success_and_sends_the_body_and_headers_as_given(server: LocalServer, connections: list[str]) -> None:
    server.replies["/hook"] = Reply(status=200, body=b"thanks")

    result = post(server.url("/hook"))

    assert summary(result) == (Outcome.SUCCESS, 200, "", "thanks", None, "127.0.0.1")
    assert result.duration_ms >= 0
    assert result.started_at.tzinfo == UTC
    [request] = server.requests
    assert (request.method, request.path, request.body) == ("POST", "/hook", BODY)
    assert request.headers["Host"] == f"127.0.0.1:{server.port}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["webhook-id"] == "m-1"
    assert request.headers["User-Agent"] == "Switchboard-Webhooks/1"
    assert connections == ["127.0.0.1"]


def test_204_without_a_body_is_a_success(server: LocalServer) -> None:
    server.replies["/hook"] = Reply(status=204)
    assert summary(post(server.url("/hook"))) == (Outcome.SUCCESS, 204, "", "", None, "127.0.0.1")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_client_errors_are_permanent(server: LocalServer, status: int) -> None:
    server.replies["/hook"] = Reply(status=status, body=b'{"detail": "no"}')

    result = post(server.url("/hook"))

    error = f"HTTP {status} (permanent: 4xx other than 408 and 429 is not retried)"
    assert summary(result) == (Outcome.PERMANENT, status, error, '{"detail": "no"}', None, "127.0.0.1")
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_wait", "error"),
    [
        (408, None, None, "HTTP 408 (retryable)"),
        (429, "120", 120.0, "HTTP 429 (retryable); Retry-After 120 s"),
        (500, None, None, "HTTP 500 (retryable)"),
        (502, "0", 0.0, "HTTP 502 (retryable); Retry-After 0 s"),
        (503, "Wed, 21 Oct 2015 07:28:00 GMT", 0.0, "HTTP 503 (retryable); Retry-After 0 s"),
        (503, "Fri, 01 Jan 2100 00:00:00 GMT", 3600.0, "HTTP 503 (retryable); Retry-After 3600 s"),
        (504, "soon", None, "HTTP 504 (retryable)"),
    ],
)
def test_408_429_and_5xx_are_retryable_with_retry_after(
    server: LocalServer, status: int, retry_after: str | None, expected_wait: float | None, error: str
) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    server.replies["/hook"] = Reply(status=status, headers=headers, body=b"busy")

    result = post(server.url("/hook"))

    assert summary(result) == (Outcome.RETRYABLE, status, error, "busy", expected_wait, "127.0.0.1")


def test_redirects_are_permanent_and_not_followed(server: LocalServer) -> None:
    server.replies["/old"] = Reply(status=302, headers={"Location": "/new"})

    result = post(server.url("/old"))

    error = "HTTP 302 redirect to /new not followed; point the subscription at the final URL"
    assert summary(result) == (Outcome.PERMANENT, 302, error, "", None, "127.0.0.1")
    assert [r.path for r in server.requests] == ["/old"]


def test_only_the_first_2_kib_of_the_answer_are_kept(server: LocalServer) -> None:
    server.replies["/hook"] = Reply(status=500, body=b"x" * 10_000)

    result = post(server.url("/hook"))

    assert result.response_body == "x" * RESPONSE_BODY_LIMIT
    assert RESPONSE_BODY_LIMIT == 2048


def test_an_answer_slower_than_the_read_timeout_is_retryable(server: LocalServer) -> None:
    server.replies["/slow"] = Reply(status=200, delay=1.0)

    result = post(server.url("/slow"), read_timeout=0.2)

    error = f"ReadTimeout on 127.0.0.1 (127.0.0.1:{server.port}): timed out"
    assert summary(result) == (Outcome.RETRYABLE, None, error, "", None, "127.0.0.1")
    assert len(server.requests) == 1


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    result = post(f"http://127.0.0.1:{port}/hook")

    error = f"ConnectError on 127.0.0.1 (127.0.0.1:{port}): [Errno 111] Connection refused"
    assert summary(result) == (Outcome.RETRYABLE, None, error, "", None, "127.0.0.1")


def test_an_unresolvable_host_is_retryable(connections: list[str]) -> None:
    result = post("http://no-such-host.invalid/hook")

    assert (result.outcome, result.status_code, result.address) == (Outcome.RETRYABLE, None, "")
    assert result.error.startswith("cannot resolve no-such-host.invalid: ")
    assert connections == []


def _refusal(address: str, reason: str, host: str | None = None) -> str:
    seen_as = "" if host is None else f" ({host} resolves to it)"
    host = host or address
    return (
        f"refused to send a webhook to {address}{seen_as}: it is a {reason} address; "
        f"add {host!r} to SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS to allow it"
    )


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://10.0.0.1/hook", _refusal("10.0.0.1", "private")),
        ("http://192.168.1.20:8080/hook", _refusal("192.168.1.20", "private")),
        ("http://169.254.169.254/latest/meta-data/", _refusal("169.254.169.254", "cloud metadata")),
        ("http://[fd00:ec2::254]/latest/meta-data/", _refusal("fd00:ec2::254", "cloud metadata")),
        ("http://[::1]/hook", _refusal("::1", "loopback")),
        ("https://0.0.0.0/hook", _refusal("0.0.0.0", "unspecified")),
        ("http://224.0.0.1/hook", _refusal("224.0.0.1", "multicast")),
        ("http://240.0.0.1/hook", _refusal("240.0.0.1", "private")),
        ("http://100.64.0.1/hook", _refusal("100.64.0.1", "non-public")),
        (
            "http://[::ffff:10.0.0.1]/hook",
            "refused to send a webhook to ::ffff:a00:1: it is a private address; "
            "add '::ffff:10.0.0.1' to SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS to allow it",
        ),
        ("http://2130706433/hook", _refusal("127.0.0.1", "loopback", host="2130706433")),
    ],
)
def test_non_public_addresses_are_refused_before_connecting(url: str, error: str, connections: list[str]) -> None:
    result = post(url, allowed_hosts=())

    assert summary(result) == (Outcome.PERMANENT, None, error, "", None, "")
    assert connections == []


def test_loopback_is_refused_unless_allowlisted(server: LocalServer, connections: list[str]) -> None:
    server.replies["/hook"] = Reply(status=204)

    refused = post(server.url("/hook"), allowed_hosts=())
    assert summary(refused) == (Outcome.PERMANENT, None, _refusal("127.0.0.1", "loopback"), "", None, "")
    assert (server.requests, connections) == ([], [])

    allowed = post(server.url("/hook"), allowed_hosts=("127.0.0.1",))
    assert summary(allowed) == (Outcome.SUCCESS, 204, "", "", None, "127.0.0.1")
    assert len(server.requests) == 1


def test_a_name_that_resolves_to_loopback_is_refused(server: LocalServer, connections: list[str]) -> None:
    first_address = str(socket.getaddrinfo("localhost", server.port, type=socket.SOCK_STREAM)[0][4][0])

    result = post(server.url("/hook", host="localhost"), allowed_hosts=("example.com",))

    assert summary(result) == (Outcome.PERMANENT, None, _refusal(first_address, "loopback", "localhost"), "", None, "")
    assert (server.requests, connections) == ([], [])


def test_an_allowlisted_name_is_sent_to_the_address_it_resolved_to_with_its_host_header(
    server: LocalServer, connections: list[str]
) -> None:
    server.replies["/hook"] = Reply(status=200)

    result = post(server.url("/hook", host="LocalHost"), allowed_hosts=(" localhost ",))

    assert (result.outcome, result.status_code) == (Outcome.SUCCESS, 200)
    assert result.address in ("127.0.0.1", "::1")
    assert connections[-1] == result.address
    [request] = server.requests
    assert request.headers["Host"] == f"localhost:{server.port}"


def test_proxies_from_the_environment_are_ignored(
    server: LocalServer, connections: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://10.0.0.1:3128")
    server.replies["/hook"] = Reply(status=204)

    result = post(server.url("/hook"))

    assert (result.outcome, result.status_code) == (Outcome.SUCCESS, 204)
    assert connections == ["127.0.0.1"]


def test_https_goes_to_the_checked_address_with_the_host_name_for_sni_and_verifies_the_certificate(
    tmp_path: Path, connections: list[str]
) -> None:
    certificate = tmp_path / "localhost.pem"
    certificate.write_text(TEST_CERTIFICATE)
    tls_server = LocalServer(certificate=certificate).start()
    try:
        by_name = post(tls_server.url("/hook", host="localhost"), allowed_hosts=("localhost",))
        by_address = post(tls_server.url("/hook"), allowed_hosts=("127.0.0.1",))
    finally:
        tls_server.stop()

    # The handshake reached the pinned address and named the host; the self-signed
    # certificate was then refused, so nothing was sent (a retryable network error).
    assert tls_server.server_names[0] == "localhost"
    assert tls_server.server_names[-1] is None  # no SNI for an IP address, as RFC 6066 says
    assert tls_server.requests == []
    for result in (by_name, by_address):
        assert (result.outcome, result.status_code) == (Outcome.RETRYABLE, None)
        assert "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate" in result.error
    assert by_name.error.startswith("ConnectError on localhost (")
    assert by_address.error.startswith(f"ConnectError on 127.0.0.1 (127.0.0.1:{tls_server.port}): ")
    assert set(connections) <= {"127.0.0.1", "::1"}


def test_a_url_without_http_scheme_or_host_is_permanent(connections: list[str]) -> None:
    assert summary(post("ftp://example.com/hook")) == (
        Outcome.PERMANENT,
        None,
        "a webhook URL needs http:// or https:// and a host",
        "",
        None,
        "",
    )
    assert connections == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.53", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("fc00::1", "private"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("100.64.0.1", "non-public"),
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_forbidden_reason(address: str, reason: str | None) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("30", 30.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("99999", 3600.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        (email.utils.format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (email.utils.format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        ("Sun, 29 Nov 2026 12:02:00 GMT", 120.0),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_a_host_name_that_cannot_be_encoded_is_permanent(connections: list[str]) -> None:
    host = "a" * 70 + ".example.com"  # DNS labels have at most 63 characters

    result = post(f"http://{host}/hook")

    assert summary(result) == (
        Outcome.PERMANENT,
        None,
        f"invalid host {host!r}: encoding with 'idna' codec failed (UnicodeError: label empty or too long)",
        "",
        None,
        "",
    )
    assert connections == []
