"""Receiving one delivery: verify, classify, store durably, then tell the listeners."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from receivers.errors import where
from receivers.inbox import Inbox
from receivers.rejections import Rejections
from receivers.schemas import CREDENTIALS_ACTION, classify_body, storable
from receivers.signature import RejectionCause, SignatureRejected, SigningKeys, verify
from receivers.store import EventStore, StoredEvent

log = logging.getLogger(__name__)


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
        self.rejections = Rejections(store)
        # Set where keys can change while running (stored on a page): asked for the current
        # keys when a signature matches none of ours, before refusing it.
        self.reload_keys: Callable[[], SigningKeys] | None = None
        self._reloaded_at = float("-inf")

    def receive(self, body: bytes, signature: str | None) -> StoredEvent | None:
        """Verify and store one delivery, on disk on return: the new event, None for a duplicate
        (or SignatureRejected, StorageUnavailable)."""
        try:
            # Verify before parsing: the signature covers the raw bytes exactly.
            key = self._verify(body, signature)
        except SignatureRejected as exc:
            self.rejections.add(exc.cause.value, str(exc), len(body))
            raise
        return self._store(body, key, "webhook")

    def reconciled(self, payload: Any) -> StoredEvent | None:
        """Store a parcel status read from Sendcloud's parcels API, shaped like its webhook,
        through the same ordering rule; None when the very same body was stored before."""
        return self._store(json.dumps(payload).encode(), "none", "reconciliation")

    def _store(self, body: bytes, key: str, source: str) -> StoredEvent | None:
        payload, c = classify_body(body)
        # The hash of the bytes as received, so a retry of them is still a duplicate.
        event_hash = hashlib.sha256(body).hexdigest()
        body, payload = storable(body, payload, c)
        now = datetime.now(UTC)
        recorded = self.inbox.record(
            event_hash, c, received_at=now, signing_key=key, body=body, source=source
        )
        if recorded is None:
            log.info("webhook_duplicate action=%s hash=%s", c.action, event_hash)
            return None
        event_id, outcome = recorded
        event = StoredEvent(
            id=event_id,
            action=c.action,
            received_at=now,
            event_timestamp=c.event_timestamp,
            outcome=outcome,
            key=key,
            integration_id=c.integration_id,
            parcel_id=c.parcel_id,
            payload=payload,
            source=source,
        )
        # Every delivery is on record in the database; the log line per ordinary delivery is
        # DEBUG (it costs ~2 % of a delivery's CPU and floods shipped logs), the unusual ones INFO.
        level = logging.DEBUG if outcome == "applied" else logging.INFO
        log.log(
            level,
            "webhook_stored id=%s action=%s outcome=%s key=%s source=%s",
            event_id,
            c.action,
            outcome,
            key,
            source,
        )
        if c.action == CREDENTIALS_ACTION:
            log.warning(
                "integration_credentials_received id=%s integration_id=%s: Sendcloud issued new "
                "API keys (the secret is not stored); see the onboarding page",
                event_id,
                c.integration_id,
            )
        self._notify(event)
        return event

    def _verify(self, body: bytes, signature: str | None) -> str:
        try:
            return verify(body, signature, self.keys)
        except SignatureRejected as exc:
            # Keys may have been stored by another worker: look (one read) when a well-formed
            # signature found no key, at most once a second, so a forged flood costs no reads.
            now = time.monotonic()
            if (
                self.reload_keys is None
                or exc.cause not in (RejectionCause.NO_KEY, RejectionCause.MISMATCH)
                or now - self._reloaded_at < 1.0
            ):
                raise
            self._reloaded_at, keys = now, self.keys
            if self.reload_keys() == keys:
                raise
            return verify(body, signature, self.keys)

    def replay(self, event_id: int) -> StoredEvent | None:
        """Re-run the handling of one stored delivery (idempotent); None if there is none."""
        found = self.store.raw_body(event_id)
        if found is None:
            return None
        body, event_hash = found
        _, c = classify_body(body)
        outcome = self.inbox.reapply(event_id, event_hash, c)
        log.info("webhook_replayed id=%s action=%s outcome=%s", event_id, c.action, outcome)
        return self.store.get(event_id)

    def _notify(self, event: StoredEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception as exc:  # noqa: BLE001 (a stored event must not fail; logged below)
                # Type and place only: the message may carry payload values.
                name = getattr(listener, "__qualname__", type(listener).__name__)
                log.error(
                    "webhook_listener_failed id=%s listener=%s error=%s where=%s",
                    event.id,
                    name,
                    type(exc).__name__,
                    where(exc),
                )
