"""Relay destinations: URL safety, their signing secrets (Standard Webhooks), and their rows."""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from receivers.db import Database
from receivers.relay.settings import RelaySettings
from receivers.relay.tables import relay_deliveries, relay_destinations
from receivers.tables import webhook_events

ROTATION_GRACE = timedelta(hours=24)


class RelayError(Exception):
    """Base of the relay's errors."""


class InvalidDestination(RelayError):
    """A destination's fields cannot work (the message says why, in plain words)."""


class NotFound(RelayError):
    """No such destination or delivery."""


@dataclass(frozen=True, repr=False)
class Destination:
    """One system the events are forwarded to."""

    id: int
    url: str
    description: str
    actions: tuple[str, ...] | None  # None: every recognised action
    include_stale: bool
    include_unrecognised: bool
    enabled: bool
    disabled_reason: str | None
    secret: str
    previous_secret: str | None
    previous_until: datetime | None
    cursor: int
    failing_since: datetime | None
    created_at: datetime

    def __repr__(self) -> str:
        return f"Destination(id={self.id}, url={self.url!r})"

    def secrets_in_use(self, now: datetime) -> list[str]:
        """The current secret, and the previous one during its 24 h of grace after a rotation."""
        grace = self.previous_until is not None and now < self.previous_until
        return [self.secret, *([self.previous_secret] if grace and self.previous_secret else [])]

    def wants(self, action: str, outcome: str) -> bool:
        """True when this destination should get an event of `action` stored as `outcome`."""
        if outcome == "unrecognised":
            return self.include_unrecognised and (self.actions is None or action in self.actions)
        if outcome == "stale" and not self.include_stale:
            return False
        return self.actions is None or action in self.actions

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape: no secrets (the API adds one where it is created or rotated)."""
        hidden = ("secret", "previous_secret", "previous_until", "cursor")
        shown = {k: v for k, v in asdict(self).items() if k not in hidden}
        return shown | {
            "actions": list(self.actions) if self.actions is not None else None,
            "failing_since": self.failing_since.isoformat() if self.failing_since else None,
            "created_at": self.created_at.isoformat(),
        }


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def url_problem(url: str, settings: RelaySettings) -> str | None:
    """What makes `url` unusable as a destination, in plain words, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return f"{url!r} is not a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "the destination URL must start with https:// and name a host"
    if parts.username is not None or parts.password is not None:
        return "the destination URL must not carry credentials (user:password@)"
    return address_problem(parts.hostname, parts.port, parts.scheme, settings)


def address_problem(
    host: str, port: int | None, scheme: str, settings: RelaySettings
) -> str | None:
    """Refuse hosts that resolve to private, loopback or link-local addresses (unless allowed),
    so a destination cannot turn the service into a probe of the shop's internal network."""
    try:
        found = socket.getaddrinfo(host, port or (443 if scheme == "https" else 80))
    except (OSError, UnicodeError):
        return f"the destination host {host!r} cannot be resolved"
    for info in found:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip.is_loopback and not (settings.sandbox or settings.allow_private):
            return (
                f"{host} is a loopback address: allowed only in sandbox mode or with "
                "RELAY_ALLOW_PRIVATE=true"
            )
        if not ip.is_loopback and not ip.is_global and not settings.allow_private:
            return (
                f"{host} resolves to a private or link-local address ({ip}); set "
                "RELAY_ALLOW_PRIVATE=true to allow it"
            )
        if scheme == "http" and not ip.is_loopback:
            return "plain http:// is allowed only for loopback destinations; use https://"
    return None


def _destination(row: Any) -> Destination:
    actions = json.loads(row.actions) if row.actions is not None else None
    return Destination(**{**row._mapping, "actions": None if actions is None else tuple(actions)})


class Destinations:
    """The destination rows (SQLAlchemy Core)."""

    def __init__(self, db: Database, settings: RelaySettings) -> None:
        self.db = db
        self.settings = settings

    def all(self, *where: Any) -> list[Destination]:
        """Every destination (matching `where`), oldest first."""
        query = sa.select(relay_destinations).where(*where).order_by(relay_destinations.c.id)
        with self.db.begin_read() as conn:
            return [_destination(row) for row in conn.execute(query)]

    def get(self, destination_id: int) -> Destination:
        """One destination, or NotFound."""
        for found in self.all(relay_destinations.c.id == destination_id):
            return found
        raise NotFound(f"no destination with id {destination_id}")

    def add(
        self,
        url: str,
        actions: list[str] | None = None,
        description: str = "",
        *,
        include_stale: bool = False,
        include_unrecognised: bool = False,
    ) -> Destination:
        """Register a destination; it gets the events stored from now on."""
        if problem := url_problem(url, self.settings):
            raise InvalidDestination(problem)
        now = datetime.now(UTC)
        newest = sa.select(sa.func.coalesce(sa.func.max(webhook_events.c.id), 0))
        with self.db.begin_write() as conn:
            new_id = conn.execute(
                relay_destinations.insert()
                .values(
                    url=url,
                    description=description,
                    actions=None if actions is None else json.dumps(actions),
                    include_stale=include_stale,
                    include_unrecognised=include_unrecognised,
                    secret=new_secret(),
                    cursor=newest.scalar_subquery(),
                    created_at=now,
                )
                .returning(relay_destinations.c.id)
            ).scalar_one()
        return self.get(new_id)

    def update(self, destination_id: int, **changes: Any) -> Destination:
        """Change fields (`enabled`, `description`, `actions`, `url`, …); `rotate=True` makes a
        new secret while the old one stays valid for 24 hours."""
        current = self.get(destination_id)
        if "url" in changes and (problem := url_problem(changes["url"], self.settings)):
            raise InvalidDestination(problem)
        if "actions" in changes and changes["actions"] is not None:
            changes["actions"] = json.dumps(changes["actions"])
        if changes.pop("rotate", False):
            changes |= {
                "secret": new_secret(),
                "previous_secret": current.secret,
                "previous_until": datetime.now(UTC) + ROTATION_GRACE,
            }
        if changes.get("enabled"):
            changes |= {"disabled_reason": None, "failing_since": None}
        if changes:
            with self.db.begin_write() as conn:
                conn.execute(dest_update(destination_id).values(changes))
        return self.get(destination_id)

    def remove(self, destination_id: int) -> None:
        """Delete a destination and its deliveries."""
        self.get(destination_id)
        with self.db.begin_write() as conn:
            for table, key in ((relay_deliveries, "destination_id"), (relay_destinations, "id")):
                conn.execute(table.delete().where(table.c[key] == destination_id))


def dest_update(destination_id: int) -> Any:
    """UPDATE of one destination row."""
    return relay_destinations.update().where(relay_destinations.c.id == destination_id)
