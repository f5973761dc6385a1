"""Exit 0 if the web process answers /healthz with 200 (the Docker healthcheck).

The request carries the first of DJANGO_ALLOWED_HOSTS as its Host header, so Django
does not reject it as a disallowed host; /healthz is exempt from the HTTPS redirect.
"""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    """Probe http://127.0.0.1:<port>/healthz once, with a short timeout."""
    port = os.environ.get("HEALTHCHECK_PORT", "8000")
    host = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",")[0].strip().lstrip(".")
    if host in ("", "*"):
        host = "localhost"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthz failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
