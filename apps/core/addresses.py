"""Which network addresses webhooks must never reach (server-side request forgery).

The webhook transport (apps.delivery.transport) judges every address a host resolves to
when it sends; the topology validator (apps.topology.validation) judges a URL whose host
is an address literal, or a loopback name, when a subscription is saved.
"""

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def forbidden_reason(address: IPAddress) -> str | None:
    """Say why webhooks must not reach `address` (e.g. "private"), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that address: judge it instead.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return forbidden_reason(embedded)
    if address in _METADATA_ADDRESSES:
        return "cloud metadata"
    for flag, reason in (
        ("is_loopback", "loopback"),
        ("is_unspecified", "unspecified"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(address, flag):
            return reason
    if not address.is_global:
        return "non-public"
    return None


def host_forbidden_reason(host: str) -> str | None:
    """Say why webhooks must not reach `host` as written (an address or a loopback name), or None.

    A name is judged by what it resolves to only when a webhook is sent; here only what
    the host says by itself is judged.
    """
    host = host.strip("[]").lower().rstrip(".")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return "loopback"
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None
    return forbidden_reason(address)
