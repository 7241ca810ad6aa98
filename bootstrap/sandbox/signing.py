"""How Sendcloud serialises and signs a webhook body (written independently of the receiver).

Deliberately not shared with `receivers.signature`: two independent implementations let
the tests catch a mistake in either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any


def serialise(payload: Any) -> str:
    """Python's json.dumps defaults: ", " and ": " separators, non-ASCII as \\uXXXX."""
    return json.dumps(payload)


def sign(body: bytes, key: str) -> str:
    """Sendcloud-Signature: hex HMAC-SHA256 of the exact body bytes."""
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()
