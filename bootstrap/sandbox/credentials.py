"""Who is calling the sandbox: API keys (HTTP Basic / OAuth2 client) and issued access tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import request

from bootstrap.sandbox.errors import Refused
from bootstrap.sandbox.tables import clients, integrations, now_ms, tokens
from receivers.db import Database


@dataclass(frozen=True)
class Client:
    """An authenticated caller: its public key (the OAuth2 client id) and its integration."""

    public_key: str
    integration_id: int
    scope: str = "api"


def _oauth2_only(db: Database, integration_id: int) -> bool:
    with db.begin_read() as conn:
        query = sa.select(integrations.c.oauth2_only).where(integrations.c.id == integration_id)
        return bool(conn.execute(query).scalar_one_or_none())


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_keys(db: Database, public_key: str, secret_key: str) -> Client | None:
    """The client whose keys these are, or None (constant-time secret comparison)."""
    with db.begin_read() as conn:
        row = conn.execute(sa.select(clients).where(clients.c.public_key == public_key)).first()
    if row is None:
        # Compare anyway so unknown and wrong keys take the same time.
        hmac.compare_digest(secret_key.encode(), b"x" * 32)
        return None
    if not hmac.compare_digest(secret_key.encode(), str(row.secret_key).encode()):
        return None
    return Client(public_key=row.public_key, integration_id=row.integration_id)


def issue_token(db: Database, client: Client, scope: str, lifetime: int) -> str:
    """A new Hydra-style access token valid for `lifetime` seconds; only its hash is stored."""
    token = "ory_at_" + secrets.token_urlsafe(32) + "." + secrets.token_urlsafe(16)
    now = now_ms()
    with db.begin_write() as conn:
        conn.execute(tokens.delete().where(tokens.c.expires_ms < now))
        conn.execute(
            tokens.insert().values(
                token_hash=_hash(token),
                public_key=client.public_key,
                scope=scope,
                expires_ms=now + lifetime * 1000,
            )
        )
    return token


def check_token(db: Database, token: str) -> Client | None:
    """The client an unexpired access token belongs to, or None."""
    with db.begin_read() as conn:
        row = conn.execute(
            sa.select(tokens.c.public_key, tokens.c.scope, clients.c.integration_id)
            .join(clients, clients.c.public_key == tokens.c.public_key)
            .where(tokens.c.token_hash == _hash(token), tokens.c.expires_ms > now_ms())
        ).first()
    if row is None:
        return None
    return Client(public_key=row.public_key, integration_id=row.integration_id, scope=row.scope)


def authenticate(db: Database) -> Client:
    """The caller of this API request (Bearer token or Basic keys); Refused (401/403) if none."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    client = None
    if scheme.lower() == "bearer" and value.strip():
        client = check_token(db, value.strip())
        if client is not None and "api" not in client.scope.split():
            raise Refused(403, "You do not have permission to perform this action.")
    elif scheme.lower() == "basic" and request.authorization is not None:
        auth = request.authorization
        client = check_keys(db, auth.username or "", auth.password or "")
        # "Use OAuth2 authentication" ticked in the panel: Basic auth fails from then on.
        if client is not None and _oauth2_only(db, client.integration_id):
            client = None
    elif not scheme:
        raise Refused(401, "Authentication credentials were not provided.")
    if client is None:
        raise Refused(401, "Invalid username/password.")
    return client
