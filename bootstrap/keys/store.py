"""Sendcloud keys stored encrypted (Fernet, key derived from SECRET_KEY), and how they combine
with the environment into the one effective configuration (the environment wins)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bootstrap.attempts.tables import attempts
from bootstrap.keys.tables import stored_credentials as table
from receivers.db import Database
from receivers.errors import StorageUnavailable

log = logging.getLogger(__name__)

# Sendcloud may still sign webhooks with a replaced secret for a while after a rotation.
GRACE = timedelta(hours=24)
SECRETS = ("public_key", "secret_key", "previous_secret")


@dataclass(frozen=True)
class StoredKeys:
    """The keys entered on the page; `integration_id` None until the shop is picked."""

    public_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    auth: str
    integration_id: int | None
    public_url: str | None
    previous_secret: str | None = field(default=None, repr=False)
    previous_until: datetime | None = None


def last4(value: str | None) -> str | None:
    """The only part of a key ever shown again."""
    return "…" + value[-4:] if value else None


def keys_in_environment(env: Mapping[str, str]) -> bool:
    """True when SENDCLOUD_PUBLIC_KEY or SENDCLOUD_SECRET_KEY is set: then they win."""
    return any(env.get(n, "").strip() for n in ("SENDCLOUD_PUBLIC_KEY", "SENDCLOUD_SECRET_KEY"))


def effective_env(env: Mapping[str, str], stored: StoredKeys | None) -> Mapping[str, str]:
    """The environment, with the stored keys filled in when it has none: the one source every
    surface's settings are loaded from."""
    if stored is None or stored.integration_id is None or keys_in_environment(env):
        return env
    filled = {
        **env,
        "SENDCLOUD_PUBLIC_KEY": stored.public_key,
        "SENDCLOUD_SECRET_KEY": stored.secret_key,
        "SENDCLOUD_AUTH": stored.auth,
        "SENDCLOUD_INTEGRATION_ID": str(stored.integration_id),
    }
    if stored.public_url and not env.get("PUBLIC_URL", "").strip():
        filled["PUBLIC_URL"] = stored.public_url
    if not (env.get("SERVICE_POINT_ENABLED") or env.get("SERVICE_POINT_CARRIERS")):
        filled["SERVICE_POINT_ENABLED"] = "false"  # nothing seeds them: chosen on the page
    until = stored.previous_until
    if stored.previous_secret and until and until > datetime.now(UTC):
        filled.setdefault("SENDCLOUD_WEBHOOK_SECRET_PREVIOUS", stored.previous_secret)
    return filled


class KeyStore:
    """The row of stored keys; every key encrypted before it reaches the database."""

    def __init__(self, db: Database, secret: str) -> None:
        self.db = db
        info = b"sendcloud-webhooks keys"
        key = HKDF(hashes.SHA256(), 32, None, info).derive(secret.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def stamp(self) -> datetime | None:
        """When the row last changed (None: no row); cheap enough to read on every use."""
        with self.db.begin_read() as conn:
            found: datetime | None = conn.execute(sa.select(table.c.updated_at)).scalar()
            return found

    def load(self) -> StoredKeys | None:
        """The stored keys; None when there are none, the database is down, or SECRET_KEY
        changed since they were stored (they cannot be read then)."""
        try:
            with self.db.begin_read() as conn:
                row = conn.execute(sa.select(table)).first()
            if row is None:
                return None
            found = dict(row._mapping)
            opened = {n: found[n] and self._fernet.decrypt(found[n]).decode() for n in SECRETS}
        except (StorageUnavailable, InvalidToken) as exc:
            log.error("stored_keys_unreadable error=%s", type(exc).__name__)
            return None
        found.update(opened)
        del found["id"], found["updated_at"]
        return StoredKeys(**found)

    def save(self, keys: StoredKeys, sandbox_integration: int | None) -> None:
        """Store `keys`; a replaced secret stays accepted for GRACE. Leaving the sandbox sets its
        attempts aside (integration 0), so none counts for the real integration."""
        old, now = self.load(), datetime.now(UTC)
        previous, until = (old.previous_secret, old.previous_until) if old else (None, None)
        if old is not None and old.secret_key != keys.secret_key:
            previous, until = old.secret_key, now + GRACE
        values = {
            "public_key": self._fernet.encrypt(keys.public_key.encode()).decode(),
            "secret_key": self._fernet.encrypt(keys.secret_key.encode()).decode(),
            "previous_secret": previous and self._fernet.encrypt(previous.encode()).decode(),
            "previous_until": until,
            "auth": keys.auth,
            "integration_id": keys.integration_id,
            "public_url": keys.public_url,
            "updated_at": now,
        }
        with self.db.begin_write() as conn:
            upsert = self.db.insert(table).values(id=1, **values)
            conn.execute(upsert.on_conflict_do_update(index_elements=["id"], set_=values))
            if sandbox_integration:  # kept, not deleted: a running attempt may still update it
                moved = attempts.update().where(attempts.c.integration_id == sandbox_integration)
                conn.execute(moved.values(integration_id=0))
        log.info("stored_keys_saved integration_id=%s", keys.integration_id)

    def remove(self) -> None:
        """Delete the stored keys."""
        with self.db.begin_write() as conn:
            conn.execute(table.delete())
        log.info("stored_keys_removed")
