"""What the receiver's views and commands share, built once per app."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from receivers.access import TokenGuard
from receivers.db import Database
from receivers.handling import Receiver
from receivers.settings import ReceiverSettings
from receivers.store import EventStore, StoredEvent

Listener = Callable[[StoredEvent], None]


@dataclass(frozen=True)
class ReceiverServices:
    """The receiver's collaborators."""

    settings: ReceiverSettings
    db: Database
    migrations: Sequence[Path]
    guard: TokenGuard
    store: EventStore
    receiver: Receiver
    # Called in the request thread right after a NEW verified delivery is committed;
    # they must be quick, and their exceptions are logged and swallowed.
    listeners: list[Listener] = field(default_factory=list)


def services(app: Flask) -> ReceiverServices:
    """The receiver services of `app`."""
    found: ReceiverServices = app.extensions["receivers"]
    return found
