"""Send one webhook request: the only place Switchboard makes outbound HTTP calls.

`webhook_post` resolves the URL's host itself, refuses loopback, private, link-local,
multicast, reserved, unspecified and cloud-metadata addresses (unless allowlisted), and
then connects to the address it checked, with the original Host header and TLS server
name, so a DNS answer that changes between the check and the connection (DNS rebinding)
cannot redirect the request. Redirects are never followed and proxies from the
environment are ignored, for the same reason.

It never raises for a failed request and never touches the database: it returns a
`WebhookResult` saying what happened and whether another attempt may succeed.

Why one module of ~300 lines: the address checks and the connection they guard must be
read and audited together; split, a change to one could silently open the other.
"""

import email.utils
import enum
import ipaddress
import socket
import ssl
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import certifi
import httpx

from apps.core.addresses import IPAddress, forbidden_reason
from apps.core.errors import SwitchboardError

# The part of a response body kept for the attempt log; the rest is never read.
RESPONSE_BODY_LIMIT = 2048
# A receiver may ask for a later retry (Retry-After), but not park a delivery for longer.
RETRY_AFTER_MAX_SECONDS = 3600.0
USER_AGENT = "Switchboard-Webhooks/1"

_RETRYABLE_STATUSES = {408, 429}


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class WebhookResult:
    """What one webhook request did.

    `address` is the IP address the request went to (or tried to reach); it is empty when
    the request was refused, or the host did not resolve, before any connection.
    """

    outcome: Outcome
    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str = ""
    response_body: str = ""
    retry_after: float | None = None
    address: str = ""


@dataclass(frozen=True)
class _Timer:
    """The start of one attempt, to stamp its result with when it began and how long it took."""

    started_at: datetime
    started: float

    @classmethod
    def start(cls) -> "_Timer":
        return cls(started_at=datetime.now(UTC), started=time.monotonic())

    def result(
        self,
        outcome: Outcome,
        *,
        error: str = "",
        status_code: int | None = None,
        response_body: str = "",
        retry_after: float | None = None,
        address: str = "",
    ) -> WebhookResult:
        return WebhookResult(
            outcome=outcome,
            started_at=self.started_at,
            duration_ms=round((time.monotonic() - self.started) * 1000),
            status_code=status_code,
            error=error,
            response_body=response_body,
            retry_after=retry_after,
            address=address,
        )


class RefusedAddressError(SwitchboardError):
    """The URL's host is, or resolves to, an address webhooks must not reach."""

    status = 422
    code = "refused-webhook-address"
    title = "Refused webhook address"


def webhook_post(
    *,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    connect_timeout: float,
    read_timeout: float,
    allowed_hosts: Collection[str],
) -> WebhookResult:
    """POST `body` to `url` and classify the answer; never follow a redirect.

    2xx is a success; 408, 429, 5xx and network errors may pass (retryable, with the
    receiver's Retry-After if it sent one); any other answer is permanent.
    """
    timer = _Timer.start()
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return timer.result(Outcome.PERMANENT, error=f"invalid webhook URL: {exc}")
    if target.scheme not in ("http", "https") or not target.host:
        return timer.result(Outcome.PERMANENT, error="a webhook URL needs http:// or https:// and a host")
    try:
        addresses = resolve_allowed_addresses(target, allowed_hosts=allowed_hosts)
    except RefusedAddressError as exc:
        return timer.result(Outcome.PERMANENT, error=str(exc))
    except UnicodeError as exc:  # a host name that IDNA cannot encode
        return timer.result(Outcome.PERMANENT, error=f"invalid host {target.host!r}: {exc}")
    except OSError as exc:
        return timer.result(Outcome.RETRYABLE, error=f"cannot resolve {target.host}: {exc}")

    timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout)
    request_headers = {"User-Agent": USER_AGENT, **headers, "Host": target.netloc.decode("ascii")}
    # Certificates are checked against the host name, not the address connected to.
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    failure = timer.result(Outcome.RETRYABLE, error=f"no address of {target.host} accepted a connection")
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, verify=_ssl_context()) as client:
        for address in addresses:
            try:
                pinned = target.copy_with(host=str(address))
                with client.stream(
                    "POST", pinned, content=body, headers=request_headers, extensions=extensions
                ) as response:
                    response_body, read_error = _read_limited(response)
                    outcome, error, retry_after = _classify(response)
            except httpx.ConnectError as exc:
                # Nothing was sent: try the host's next address; the last one's failure stands.
                failure = timer.result(
                    Outcome.RETRYABLE, error=_network_error(exc, address, target), address=str(address)
                )
                continue
            except httpx.TransportError as exc:  # timeouts, resets, protocol errors
                return timer.result(Outcome.RETRYABLE, error=_network_error(exc, address, target), address=str(address))
            return timer.result(
                outcome,
                status_code=response.status_code,
                error=error or read_error,
                response_body=response_body,
                retry_after=retry_after,
                address=str(address),
            )
    return failure


def resolve_allowed_addresses(url: httpx.URL, *, allowed_hosts: Collection[str]) -> list[IPAddress]:
    """Resolve the URL's host to every address it has; refuse if any one is not allowed.

    An address is allowed when it is public, when the URL's host (as written) is in
    `allowed_hosts`, or when the address itself is. Raise RefusedAddressError naming the
    address and the setting otherwise, and OSError when the name does not resolve.
    """
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    allowed = {h.strip().strip("[]").lower() for h in allowed_hosts if h.strip()}
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OSError(f"{host} has no address")
    if host.lower() in allowed:
        return addresses
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is not None and str(address) not in allowed:
            seen_as = "" if _is_address(host, address) else f" ({host} resolves to it)"
            raise RefusedAddressError(
                f"refused to send a webhook to {address}{seen_as}: it is a {reason} address; add {host!r} to "
                "SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS to allow it"
            )
    return addresses


def _is_address(host: str, address: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(host) == address
    except ValueError:
        return False


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Read a Retry-After header (delay in seconds, or an HTTP date) as seconds from `now`.

    Return None when it is absent or unreadable; clamp it to 0..RETRY_AFTER_MAX_SECONDS.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_SECONDS)


@cache
def _ssl_context() -> ssl.SSLContext:
    """Build the TLS context once per process (loading the CA bundle is slow)."""
    return ssl.create_default_context(cafile=certifi.where())


def _read_limited(response: httpx.Response) -> tuple[str, str]:
    """Read at most RESPONSE_BODY_LIMIT bytes of the body; return it and any read error."""
    data = bytearray()
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= RESPONSE_BODY_LIMIT:
                break
    except httpx.HTTPError as exc:
        return _text(bytes(data[:RESPONSE_BODY_LIMIT])), f"reading the response failed: {exc.__class__.__name__}"
    return _text(bytes(data[:RESPONSE_BODY_LIMIT])), ""


def _text(data: bytes) -> str:
    # PostgreSQL text cannot hold NUL characters.
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _classify(response: httpx.Response) -> tuple[Outcome, str, float | None]:
    """Judge a response by its status: outcome, error text, and the receiver's Retry-After."""
    status = response.status_code
    if 200 <= status < 300:
        return Outcome.SUCCESS, "", None
    if status in _RETRYABLE_STATUSES or 500 <= status < 600:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=datetime.now(UTC))
        wait = "" if retry_after is None else f"; Retry-After {retry_after:g} s"
        return Outcome.RETRYABLE, f"HTTP {status} (retryable){wait}", retry_after
    if 300 <= status < 400:
        location = response.headers.get("Location", "(none)")
        return (
            Outcome.PERMANENT,
            f"HTTP {status} redirect to {location} not followed; point the subscription at the final URL",
            None,
        )
    return Outcome.PERMANENT, f"HTTP {status} (permanent: 4xx other than 408 and 429 is not retried)", None


def _network_error(exc: httpx.HTTPError, address: IPAddress, url: httpx.URL) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    where = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
    detail = str(exc) or "no detail"
    return f"{exc.__class__.__name__} on {url.host} ({where}): {detail}"
