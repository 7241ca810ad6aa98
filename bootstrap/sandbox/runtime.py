"""One emulated Sendcloud: its state in the database, its delivery thread, and its Python API."""

from __future__ import annotations

import dataclasses
from typing import Any

from bootstrap.sandbox import events, integrations, outbox, requestlog
from bootstrap.sandbox import faults as switches
from bootstrap.sandbox.config import SandboxConfig
from bootstrap.sandbox.delivery import DeliveryWorker, deliver
from bootstrap.sandbox.errors import IntegrationNotFound, TriggerFailed, ValidationFailed
from bootstrap.sandbox.tables import MIGRATIONS
from bootstrap.sandbox.validation import clean_update
from receivers.db import Database


class Sandbox:
    """What the API views, the control API, the CLI and the tests share."""

    def __init__(self, db: Database, config: SandboxConfig | None = None) -> None:
        self.db = db
        self.config = config or SandboxConfig()
        self.worker = DeliveryWorker(db, lambda: self.config.retry_scale)
        # Zero-config mode: where this process serves itself (the twin) on loopback.
        self.local_url: str | None = None

    def install(self, public_key: str, secret_key: str, integration_id: int = 1) -> None:
        """Create the tables (if needed), the keys and the seeded integration."""
        self.db.upgrade(MIGRATIONS)
        integrations.seed(self.db, public_key, secret_key, integration_id)

    def configure(self, **changes: Any) -> None:
        """Change token_lifetime / retry_scale of this process (tests)."""
        self.config = dataclasses.replace(self.config, **changes)

    def integration(self, integration_id: int = 1) -> dict[str, Any] | None:
        """The stored row of an integration (API fields plus `oauth2_only`), or None."""
        with self.db.begin_read() as conn:
            return integrations.get(conn, integration_id)

    def update(self, integration_id: int, body: Any, partial: bool) -> dict[str, Any]:
        """PATCH (partial) or PUT an integration like Sendcloud; queue integration_updated."""
        with self.db.begin_write() as conn:
            current = integrations.get(conn, integration_id)
            if current is None:
                raise IntegrationNotFound(integration_id)
            changes = clean_update(body, current, partial)
            row = integrations.apply(conn, integration_id, changes)
            queued = self._queue(conn, "integration_updated", row)
        if queued:
            self.worker.wake()
        return row

    def delete(self, integration_id: int) -> None:
        """DELETE an integration; queue integration_deleted to its webhook if active."""
        with self.db.begin_write() as conn:
            current = integrations.get(conn, integration_id)
            if current is None:
                raise IntegrationNotFound(integration_id)
            integrations.delete(conn, integration_id)
            queued = self._queue(conn, "integration_deleted", current)
        if queued:
            self.worker.wake()

    def panel_update(
        self, integration_id: int = 1, *, notify: bool = True, **fields: Any
    ) -> dict[str, Any]:
        """Change an integration as its owner would in the Sendcloud panel.

        Emits integration_updated like Sendcloud (notify=False: silent test set-up).
        """
        unknown = set(fields) - set(integrations.PANEL_FIELDS)
        if unknown:
            raise ValidationFailed({"panel": [f"{name}: not a panel setting." for name in unknown]})
        extra: dict[str, Any] = {
            k: fields.pop(k) for k in ("shop_name", "oauth2_only") if k in fields
        }
        if not all(isinstance(v, (str, bool)) for v in extra.values()):
            raise ValidationFailed({"panel": ["shop_name is text and oauth2_only is true/false."]})
        with self.db.begin_write() as conn:
            current = integrations.get(conn, integration_id)
            if current is None:
                raise IntegrationNotFound(integration_id)
            changes = {**clean_update(fields, current, partial=True), **extra}
            row = integrations.apply(conn, integration_id, changes)
            queued = notify and self._queue(conn, "integration_updated", row)
        if queued:
            self.worker.wake()
        return row

    def _queue(self, conn: Any, action: str, row: dict[str, Any]) -> bool:
        if not (row["webhook_active"] and row["webhook_url"]):
            return False
        key = outbox.secret_for(conn, row["id"])
        if key is None:
            return False
        payload = events.integration_event(action, row)
        outbox.enqueue(conn, action, row["webhook_url"], payload, key)
        return True

    def trigger(
        self,
        action: str,
        *,
        url: str | None = None,
        integration_id: int = 1,
        **options: Any,
    ) -> outbox.DeliveryAttempt:
        """Deliver one signed webhook of `action` now; a failure is retried later."""
        with self.db.begin_write() as conn:
            row = integrations.get(conn, integration_id)
            if row is None:
                raise TriggerFailed(f"there is no sandbox integration {integration_id}")
            target = url or row["webhook_url"]
            if not target:
                raise TriggerFailed(
                    "the sandbox integration has no webhook URL yet: run the onboarding "
                    "first, or pass a URL"
                )
            key = outbox.secret_for(conn, integration_id)
            if key is None:  # pragma: no cover - seeded together with the integration
                raise TriggerFailed(f"integration {integration_id} has no keys")
            payload = _payload(action, row, options)
            item = outbox.enqueue_claimed(conn, action, target, payload, key)
        return deliver(self.db, item, self.config.retry_scale)

    def faults(self, **changes: Any) -> switches.Faults:
        """Change fault-injection switches (none: just read them)."""
        return switches.update(self.db, **changes)

    def requests(self, after_id: int = 0) -> list[requestlog.LoggedRequest]:
        """The request log, oldest first."""
        return requestlog.read(self.db, after_id)

    def deliveries(self) -> list[outbox.DeliveryAttempt]:
        """Every webhook delivery attempt, oldest first."""
        return outbox.attempts(self.db)


def _payload(action: str, row: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    try:
        if action == "parcel_status_changed":
            return events.parcel_status_changed(**options)
        if action == "return_created":
            return events.return_created(**options)
        if action == "test_webhook":
            return events.webhook_test(**options)
        if action in ("integration_updated", "integration_deleted", "integration_connected"):
            return events.integration_event(action, row, **options)
    except TypeError as exc:
        raise TriggerFailed(f"{action} does not take those options ({exc})") from exc
    raise TriggerFailed(f"unknown action {action!r}; known: {', '.join(events.ACTIONS)}")
