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

from bootstrap.attempts.tables import attempts, steps
from bootstrap.keys.tables import stored_credentials as table
from receivers.db import Database
from receivers.errors import StorageUnavailable

log = logging.getLogger(__name__)

# Sendcloud may still sign webhooks with a replaced secret for a while after a rotation.
GRACE = timedelta(hours=24)
KEY_VARIABLES = ("SENDCLOUD_PUBLIC_KEY", "SENDCLOUD_SECRET_KEY")


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
    return None if not value else "…" + value[-4:]


def keys_in_environment(env: Mapping[str, str]) -> bool:
    """True when SENDCLOUD_PUBLIC_KEY or SENDCLOUD_SECRET_KEY is set: then they win."""
    return any(env.get(name, "").strip() for name in KEY_VARIABLES)


def effective_env(env: Mapping[str, str], stored: StoredKeys | None) -> Mapping[str, str]:
    """The environment, with the stored keys filled in when it has none (the one source the
    settings of every surface are loaded from)."""
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
        # Nothing to seed the first plan with: service points are chosen on the page.
        filled["SERVICE_POINT_ENABLED"] = "false"
    until = stored.previous_until
    if stored.previous_secret and until and until > datetime.now(UTC):
        filled.setdefault("SENDCLOUD_WEBHOOK_SECRET_PREVIOUS", stored.previous_secret)
    return filled


class KeyStore:
    """The row of stored keys; every key encrypted before it reaches the database."""

    def __init__(self, db: Database, secret: str) -> None:
        self.db = db
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"sendcloud-webhooks keys"
        ).derive(secret.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def stamp(self) -> datetime | None:
        """When the row last changed (None: no row); cheap enough to poll."""
        with self.db.begin_read() as conn:
            found: datetime | None = conn.execute(sa.select(table.c.updated_at)).scalar()
            return found

    def load(self) -> StoredKeys | None:
        """The stored keys, or None (also when SECRET_KEY changed and they cannot be read)."""
        with self.db.begin_read() as conn:
            row = conn.execute(sa.select(table)).first()
        if row is None:
            return None
        try:
            return StoredKeys(
                self._open(row.public_key) or "",
                self._open(row.secret_key) or "",
                row.auth,
                row.integration_id,
                row.public_url,
                self._open(row.previous_secret),
                row.previous_until,
            )
        except InvalidToken:
            log.error("stored_keys_unreadable reason='SECRET_KEY changed since they were stored'")
            return None

    def save(self, keys: StoredKeys, leaving_sandbox: bool) -> None:
        """Store `keys`; a replaced secret stays accepted for GRACE. Leaving the sandbox deletes
        its attempts, so none of them counts for the real integration."""
        old = self.load()
        now = datetime.now(UTC)
        rotated = old is not None and old.secret_key != keys.secret_key
        values = {
            "public_key": self._seal(keys.public_key),
            "secret_key": self._seal(keys.secret_key),
            "auth": keys.auth,
            "integration_id": keys.integration_id,
            "public_url": keys.public_url,
            "previous_secret": self._seal(old.secret_key) if old and rotated else None,
            "previous_until": now + GRACE if rotated else None,
            "updated_at": now,
        }
        if old is not None and not rotated:
            values["previous_secret"] = self._seal(old.previous_secret)
            values["previous_until"] = old.previous_until
        with self.db.begin_write() as conn:
            upsert = self.db.insert(table).values(id=1, **values)
            conn.execute(upsert.on_conflict_do_update(index_elements=["id"], set_=values))
            if leaving_sandbox:
                conn.execute(steps.delete())
                conn.execute(attempts.delete())
        log.info("stored_keys_saved integration_id=%s rotated=%s", keys.integration_id, rotated)

    def remove(self) -> None:
        """Delete the stored keys."""
        with self.db.begin_write() as conn:
            conn.execute(table.delete())
        log.info("stored_keys_removed")

    def _seal(self, value: str | None) -> str | None:
        return None if value is None else self._fernet.encrypt(value.encode()).decode()

    def _open(self, token: str | None) -> str | None:
        return None if token is None else self._fernet.decrypt(token.encode()).decode()


def load_quietly(store: KeyStore) -> StoredKeys | None:
    """The stored keys, or None while the database is down (the start goes on)."""
    try:
        return store.load()
    except StorageUnavailable as exc:
        log.error("stored_keys_unavailable error=%s", exc)
        return None
