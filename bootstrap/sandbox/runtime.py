"""One emulated Sendcloud: its knobs, its state in the database, its delivery thread, its API."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy.engine import Connection

import receivers
from bootstrap.migrations import MIGRATIONS
from bootstrap.sandbox import control, delivery, faults, integrations, outbox, webhooks
from bootstrap.sandbox.errors import IntegrationNotFound, TriggerFailed, ValidationFailed
from bootstrap.sandbox.faults import Faults
from bootstrap.sandbox.tables import clients
from bootstrap.sandbox.tables import faults as fault_switches
from bootstrap.sandbox.tables import integrations as integration_rows
from receivers.db import Database

# Sendcloud retries after 5 minutes first; 1/300 makes that one second in the sandbox.
DEFAULT_RETRY_SCALE = 1 / 300


@dataclass(frozen=True)
class SandboxConfig:
    """How the emulated Sendcloud behaves where real Sendcloud would be too slow to test."""

    token_lifetime: int = 3600  # seconds, Sendcloud's 1 hour
    retry_scale: float = DEFAULT_RETRY_SCALE  # 1.0 = Sendcloud's real retry schedule
    parcels_page_size: int = 100  # parcels per page of GET /parcels (tests set it low)
    retry_after: int = 0  # seconds of a Retry-After header on forced failures (0: none)


def sandbox_of(app: Flask) -> Sandbox | None:
    """The sandbox running in `app`, or None outside sandbox mode."""
    found: Sandbox | None = app.extensions.get("sandbox")
    return found


def iso_now() -> str:
    """The current time as live v2 answers write it (`2022-07-05T09:02:24.199241+02:00`)."""
    return datetime.now(UTC).isoformat()


class Sandbox:
    """What the API views, the control API, the CLI and the tests share."""

    def __init__(self, db: Database, config: SandboxConfig | None = None) -> None:
        self.db = db
        self.config = config or SandboxConfig()
        self.worker = delivery.DeliveryWorker(db, lambda: self.config.retry_scale)
        # Zero-config mode: where this process serves itself (the twin) on loopback.
        self.local_url: str | None = None

    def install(self, public_key: str, secret_key: str, integration_id: int = 1) -> None:
        """Create the tables, the keys, the "Sandbox Shop" integration and the switches once."""
        # A no-op in the service (create_app upgraded already); a standalone sandbox needs it.
        self.db.upgrade([receivers.MIGRATIONS, MIGRATIONS])
        with self.db.begin_write() as conn:  # insert-or-ignore: workers race here at start
            conn.execute(
                self.db.insert_ignore(clients).values(
                    public_key=public_key, secret_key=secret_key, integration_id=integration_id
                )
            )
            conn.execute(
                self.db.insert_ignore(integration_rows).values(
                    id=integration_id,
                    shop_name="Sandbox Shop",
                    # Live v2 answers show an unset URL as "", not null.
                    shop_url="",
                    system="api",
                    failing_since=None,
                    last_fetch=None,
                    last_updated_at=iso_now(),
                    service_point_enabled=False,
                    service_point_carriers="[]",
                    webhook_active=False,
                    webhook_url="",
                    oauth2_only=False,
                )
            )
            conn.execute(
                self.db.insert_ignore(fault_switches).values(id=1, **dataclasses.asdict(Faults()))
            )

    def configure(self, **changes: Any) -> None:
        """Change token_lifetime / retry_scale of this process (tests)."""
        self.config = dataclasses.replace(self.config, **changes)

    def integration(self, integration_id: int = 1) -> dict[str, Any] | None:
        """The stored row of an integration (API fields plus `oauth2_only`), or None."""
        with self.db.begin_read() as conn:
            return integrations.get(conn, integration_id)

    def update(
        self, integration_id: int, body: Any, partial: bool, v3: bool = False
    ) -> dict[str, Any]:
        """PATCH or PUT like Sendcloud; integration_updated unless `silent_api_changes` is on."""
        return self._change(
            integration_id,
            lambda current: integrations.clean_update(body, current, partial, v3),
            notify=not faults.read(self.db).silent_api_changes,
        )

    def panel_update(
        self, integration_id: int = 1, *, notify: bool = True, **fields: Any
    ) -> dict[str, Any]:
        """Change an integration in the Sendcloud panel: integration_updated unless notify=False."""
        unknown = set(fields) - set(integrations.PANEL_FIELDS)
        if unknown:
            raise ValidationFailed({"panel": [f"{name}: not a panel setting." for name in unknown]})
        extra: dict[str, Any] = {
            k: fields.pop(k) for k in ("shop_name", "oauth2_only") if k in fields
        }
        if not all(isinstance(v, str | bool) for v in extra.values()):
            raise ValidationFailed({"panel": ["shop_name is text and oauth2_only is true/false."]})
        return self._change(
            integration_id,
            lambda current: {**integrations.clean_update(fields, current, partial=True), **extra},
            notify,
        )

    def delete(self, integration_id: int) -> None:
        """DELETE an integration, queue integration_deleted to its webhook if active; its keys stay
        valid, so a client observes the 404 afterwards."""
        with self.db.begin_write() as conn:
            current = integrations.get(conn, integration_id)
            if current is None:
                raise IntegrationNotFound(integration_id)
            conn.execute(integration_rows.delete().where(integration_rows.c.id == integration_id))
            queued = self._queue(conn, "integration_deleted", current)
        if queued:
            self.worker.wake()

    def trigger(
        self, action: str, *, url: str | None = None, integration_id: int = 1, **options: Any
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
            keys = outbox.keys_for(conn, integration_id) or ("", "")
            payload = webhooks.payload(action, row, keys, options)
            item = outbox.enqueue(conn, action, target, payload, keys[1], claimed=True)
        return delivery.deliver(self.db, item, self.config.retry_scale)

    def faults(self, **changes: Any) -> Faults:
        """TEST-ONLY: change fault-injection switches (none: just read them)."""
        return faults.update(self.db, **changes)

    def requests(self, after_id: int = 0) -> list[control.LoggedRequest]:
        """TEST-ONLY: the request log, oldest first."""
        return control.logged_requests(self.db, after_id)

    def deliveries(self) -> list[outbox.DeliveryAttempt]:
        """Every webhook delivery attempt, oldest first."""
        return outbox.attempts(self.db)

    def _change(
        self,
        integration_id: int,
        clean: Callable[[dict[str, Any]], dict[str, Any]],
        notify: bool = True,
    ) -> dict[str, Any]:
        with self.db.begin_write() as conn:
            current = integrations.get(conn, integration_id)
            if current is None:
                raise IntegrationNotFound(integration_id)
            row = integrations.apply(conn, integration_id, clean(current), iso_now())
            queued = notify and self._queue(conn, "integration_updated", row)
        if queued:
            self.worker.wake()
        return row

    def _queue(self, conn: Connection, action: str, row: dict[str, Any]) -> bool:
        if not (row["webhook_active"] and row["webhook_url"]):
            return False
        keys = outbox.keys_for(conn, row["id"])
        if keys is None:
            return False
        outbox.enqueue(
            conn, action, row["webhook_url"], webhooks.integration_event(action, row), keys[1]
        )
        return True
