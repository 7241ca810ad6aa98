"""The sandbox's record of every request it answered, so tests assert on what it received."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bootstrap.sandbox.clock import now_ms
from bootstrap.sandbox.tables import requests_log
from receivers.db import Database


@dataclass(frozen=True)
class LoggedRequest:
    """One request: never a secret (no keys, tokens or client_secret), only who and what."""

    id: int
    at_ms: int
    method: str
    path: str
    auth: str  # "basic", "bearer", "form" (client_id/client_secret fields), "none", "other"
    client_id: str | None
    body: Any  # the parsed JSON body, or the raw text when it was not JSON, or None
    form: dict[str, str] | None  # form fields, client_secret left out
    status: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the control API."""
        return {
            "id": self.id,
            "at_ms": self.at_ms,
            "method": self.method,
            "path": self.path,
            "auth": self.auth,
            "client_id": self.client_id,
            "body": self.body,
            "form": self.form,
            "status": self.status,
        }


def record(
    db: Database,
    *,
    method: str,
    path: str,
    auth: str,
    client_id: str | None,
    body: Any,
    form: dict[str, str] | None,
    status: int,
) -> None:
    """Append one request to the log."""
    with db.begin_write() as conn:
        conn.execute(
            requests_log.insert().values(
                at_ms=now_ms(),
                method=method,
                path=path,
                auth=auth,
                client_id=client_id,
                body=None if body is None else json.dumps(body),
                form=None if form is None else json.dumps(form),
                status=status,
            )
        )


def read(db: Database, after_id: int = 0) -> list[LoggedRequest]:
    """Logged requests with an id above `after_id`, oldest first."""
    with db.begin_read() as conn:
        rows = conn.execute(
            sa.select(requests_log).where(requests_log.c.id > after_id).order_by(requests_log.c.id)
        ).all()
    return [
        LoggedRequest(
            id=row.id,
            at_ms=row.at_ms,
            method=row.method,
            path=row.path,
            auth=row.auth,
            client_id=row.client_id,
            body=None if row.body is None else json.loads(row.body),
            form=None if row.form is None else json.loads(row.form),
            status=row.status,
        )
        for row in rows
    ]


def clear(db: Database) -> None:
    """Forget every logged request."""
    with db.begin_write() as conn:
        conn.execute(requests_log.delete())
