"""Sendcloud webhook signatures: hex HMAC-SHA256 of the raw body bytes (stdlib only)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum

_HEX = frozenset("0123456789abcdef")
SIGNATURE_LENGTH = 64


class RejectionCause(Enum):
    """Why a delivery's signature was refused; the value is the counter name."""

    NO_KEY = "no_key_configured"
    MISSING = "header_missing"
    MALFORMED = "not_64_hex_characters"
    MISMATCH = "matches_no_configured_key"


# Plain words for the operator (never keys, signatures or the body).
_EXPLANATIONS = {
    RejectionCause.NO_KEY: (
        "no webhook secret is configured (SENDCLOUD_WEBHOOK_SECRET or SENDCLOUD_SECRET_KEY), "
        "so no delivery can be verified"
    ),
    RejectionCause.MISSING: "the Sendcloud-Signature header is missing or empty",
    RejectionCause.MALFORMED: "the Sendcloud-Signature header is not 64 hexadecimal characters",
    RejectionCause.MISMATCH: (
        "the signature matches no configured key: the body was altered on the way "
        "(a proxy re-encoding JSON?) or it was signed with a different key (a rotated "
        "secret not set as SENDCLOUD_WEBHOOK_SECRET_PREVIOUS, or the Webhook Signature Key "
        "instead of the Secret Key)"
    ),
}


class SignatureRejected(Exception):
    """The delivery is not proven to come from Sendcloud; `cause` says why."""

    def __init__(self, cause: RejectionCause) -> None:
        self.cause = cause
        super().__init__(_EXPLANATIONS[cause])


@dataclass(frozen=True, repr=False)
class SigningKeys:
    """The current webhook key and, during a rotation, the previous one."""

    current: str | None
    previous: str | None = None

    def __repr__(self) -> str:
        return (
            f"SigningKeys(current={'<set>' if self.current else None}, "
            f"previous={'<set>' if self.previous else None})"
        )


def sign(body: bytes, key: str) -> str:
    """The Sendcloud-Signature value for `body` under `key` (lowercase hex)."""
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str | None, keys: SigningKeys) -> str:
    """Which key signed `body` ("current" or "previous"); raise SignatureRejected otherwise."""
    # `body` must be the raw request bytes: the signature covers them exactly.
    if not keys.current and not keys.previous:
        raise SignatureRejected(RejectionCause.NO_KEY)
    presented = (header or "").strip().lower()
    if not presented:
        raise SignatureRejected(RejectionCause.MISSING)
    if len(presented) != SIGNATURE_LENGTH or not _HEX.issuperset(presented):
        raise SignatureRejected(RejectionCause.MALFORMED)
    given = presented.encode("ascii")
    # Compare against every configured key, always, so the timing does not reveal which
    # key (if any) is close to matching.
    matched: str | None = None
    for name, key in (("current", keys.current), ("previous", keys.previous)):
        if key and hmac.compare_digest(sign(body, key).encode("ascii"), given) and matched is None:
            matched = name
    if matched is None:
        raise SignatureRejected(RejectionCause.MISMATCH)
    return matched
