"""The form of a webhook subscription's signing secrets (Standard Webhooks).

The topology loader and the demo receiver check secrets with it before they are used;
apps.delivery.webhooks signs with them.
"""

import base64
import binascii

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
# The Standard Webhooks spec asks for signing keys of 24 to 64 random bytes.
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64


def webhook_secret_is_valid(secret: str) -> bool:
    """Tell whether `secret` is a Standard Webhooks secret: whsec_ and base64 of 24-64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return False
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        return False
    return SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES
