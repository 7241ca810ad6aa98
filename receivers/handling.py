"""Receiving one delivery: verify, classify, store durably, then tell the listeners."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from receivers.errors import StorageUnavailable, where
from receivers.inbox import Inbox
from receivers.schemas import Classified, classify
from receivers.signature import SignatureRejected, SigningKeys, verify
from receivers.store import EventStore, StoredEvent

log = logging.getLogger(__name__)

_UNPARSEABLE = object()


@dataclass(frozen=True)
class Receipt:
    """What happened to a verified delivery."""

    duplicate: bool
    event: StoredEvent | None


def parse(body: bytes) -> Any:
    """The JSON of a body, or a marker when it is not JSON (still stored, as unrecognised)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return _UNPARSEABLE


def classify_body(body: bytes) -> tuple[Any, Classified]:
    """Parse and classify a raw body."""
    payload = parse(body)
    if payload is _UNPARSEABLE:
        return None, Classified(action="(not json)", event_timestamp=None, recognised=False)
    return payload, classify(payload)


class Receiver:
    """The receiver's logic, independent of Flask."""

    def __init__(
        self,
        keys: SigningKeys,
        inbox: Inbox,
        store: EventStore,
        listeners: Sequence[Callable[[StoredEvent], None]],
    ) -> None:
        self.keys = keys
        self.inbox = inbox
        self.store = store
        self.listeners = listeners

    def receive(self, body: bytes, signature: str | None) -> Receipt:
        """Verify and store one delivery; raises SignatureRejected or StorageUnavailable."""
        try:
            # Verify before parsing: the signature covers the raw bytes exactly.
            key = verify(body, signature, self.keys)
        except SignatureRejected as exc:
            self._count_rejection(exc, len(body))
            raise
        payload, classified = classify_body(body)
        event_hash = hashlib.sha256(body).hexdigest()
        received_at = datetime.now(UTC)
        recorded = self.inbox.record(
            event_hash, classified, received_at=received_at, signing_key=key, body=body
        )
        if recorded is None:
            log.info("webhook_duplicate action=%s hash=%s", classified.action, event_hash)
            return Receipt(duplicate=True, event=None)
        event = StoredEvent(
            id=recorded[0],
            action=classified.action,
            received_at=received_at,
            event_timestamp=classified.event_timestamp,
            outcome=recorded[1],
            key=key,
            integration_id=classified.integration_id,
            parcel_id=classified.parcel_id,
            payload=payload,
        )
        # Every delivery is on record in the database; the log line per ordinary delivery is
        # DEBUG (it costs ~2 % of a delivery's CPU and floods shipped logs), the unusual ones INFO.
        log.log(
            logging.DEBUG if event.outcome == "applied" else logging.INFO,
            "webhook_stored id=%s action=%s outcome=%s key=%s",
            event.id,
            event.action,
            event.outcome,
            event.key,
        )
        self._notify(event)
        return Receipt(duplicate=False, event=event)

    def replay(self, event_id: int) -> StoredEvent | None:
        """Re-run the handling of one stored delivery (idempotent); None if there is none."""
        found = self.store.raw_body(event_id)
        if found is None:
            return None
        body, event_hash = found
        _, classified = classify_body(body)
        outcome = self.inbox.reapply(event_id, event_hash, classified)
        log.info(
            "webhook_replayed id=%s action=%s outcome=%s", event_id, classified.action, outcome
        )
        return self.store.get(event_id)

    def _count_rejection(self, exc: SignatureRejected, size: int) -> None:
        # The cause only: never the signature, the key or the body.
        log.warning("webhook_rejected cause=%s bytes=%d reason=%s", exc.cause.value, size, exc)
        try:
            self.store.count_rejection(exc.cause.value)
        except StorageUnavailable as storage:
            log.warning("webhook_rejection_not_counted error=%s", storage)

    def _notify(self, event: StoredEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception as exc:  # noqa: BLE001 (a stored event must not fail; logged below)
                # Type and place only: the message may carry payload values.
                log.error(
                    "webhook_listener_failed id=%s listener=%s error=%s where=%s",
                    event.id,
                    getattr(listener, "__qualname__", type(listener).__name__),
                    type(exc).__name__,
                    where(exc),
                )
