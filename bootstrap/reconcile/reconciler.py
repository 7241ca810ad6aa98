"""Reconciliation: parcel states read from Sendcloud's parcels list correct lost webhooks.

Ordering (docs/reconcile.md): a status read from the list is recorded like a webhook
timestamped ORDER_MARGIN before the moment we asked for it, so any webhook about a later
change still wins, and an older webhook arriving late stays stale.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from bootstrap.errors import BootstrapError, UnexpectedResponse
from bootstrap.sendcloud.client import SendcloudClient
from receivers.db import Database
from receivers.errors import StorageUnavailable
from receivers.handling import Receiver
from receivers.schemas import classify
from receivers.tables import reconcile_marks as marks

log = logging.getLogger(__name__)

# Covers clock skew and replication lag at Sendcloud; also the overlap between runs, so a
# parcel whose correction lost to a webhook within this margin is read again next time.
ORDER_MARGIN = timedelta(seconds=60)
# Sendcloud allows 1,000 GET requests a minute; at most 10 pages a second leaves room.
PAGE_INTERVAL = 0.1
MARK = "parcels"


@dataclass(frozen=True)
class RunResult:
    """What one run read and corrected."""

    kind: str  # "manual", "backfill", "after onboarding"
    read: int
    corrected: int
    at: datetime


class Reconciler:
    """Reads parcels changed at Sendcloud and records the statuses we do not have."""

    def __init__(
        self, client: SendcloudClient, receiver: Receiver, db: Database, backfill_days: int
    ) -> None:
        self.client = client
        self.receiver = receiver
        self.db = db
        self.backfill = timedelta(days=backfill_days)
        self._lock = threading.Lock()  # one run at a time in this process
        self._thread: threading.Thread | None = None
        self._last_get = 0.0

    def run(
        self, since: datetime | None = None, dry_run: bool = False, kind: str = "manual"
    ) -> RunResult:
        """One run: from `since`, else resuming an interrupted run, else from the mark (the
        first time: RECONCILE_BACKFILL_DAYS back). Raises BootstrapError, StorageUnavailable."""
        with self._lock:
            return self._run(since, dry_run, kind)

    def _run(self, since: datetime | None, dry_run: bool, kind: str) -> RunResult:
        mark = self._mark()
        started = datetime.now(UTC)
        if since is None and mark.get("resume_url") and mark.get("run_started_at"):
            url, started, covering = mark["resume_url"], mark["run_started_at"], True
        else:
            since = since or mark.get("updated_after") or started - self.backfill
            # Only a run from the mark (or earlier) may move it: a later --since leaves a gap.
            covering = mark.get("updated_after") is None or since <= mark["updated_after"]
            query = urlencode({"updated_after": since.isoformat()})
            url = f"{self.client.v2_url}/parcels?{query}"
        read = corrected = 0
        while url:
            asked = self._pace()
            page = self.client.parcels_page(url)
            for parcel in page["parcels"]:
                read += 1
                corrected += self._correct(parcel, asked, dry_run)
            url = self._next(page.get("next"), url)
            if covering and not dry_run:
                # Only now is the page fully recorded: a run stopped later resumes here.
                self._save(resume_url=url, run_started_at=started)
        result = RunResult(kind, read, corrected, datetime.now(UTC))
        if not dry_run:
            done = {"last_run_at": result.at, "last_kind": kind, "last_read": read}
            if covering:
                moved = started - ORDER_MARGIN
                new_mark = max(moved, mark.get("updated_after") or moved)
                done |= {"updated_after": new_mark, "resume_url": None, "run_started_at": None}
            self._save(**done, last_corrected=corrected)
        log.info("reconcile_done kind=%s read=%d corrected=%d", kind, read, corrected)
        return result

    def _correct(self, parcel: Any, asked: datetime, dry_run: bool) -> bool:
        """Record `parcel`'s status if it differs from ours and is newer; True if applied."""
        # The list shows the status as it is when we ask: true from then on, whatever
        # moment its zone-less date_updated stands for.
        timestamp = int((asked - ORDER_MARGIN).timestamp() * 1000)
        payload = {"action": "parcel_status_changed", "timestamp": timestamp, "parcel": parcel}
        found = classify(payload)
        if found.kind != "parcel":
            log.warning("reconcile_parcel_skipped reason=unexpected_shape")
            return False
        stored = self.receiver.store.parcel_state(found.state["parcel_id"])
        if stored is not None and (
            stored.status_id == found.state["status_id"] or stored.event_timestamp >= timestamp
        ):
            return False
        if dry_run:
            return True
        event = self.receiver.reconciled(payload)
        return event is not None and event.outcome == "applied"

    def _pace(self) -> datetime:
        """Wait so pages stay under Sendcloud's GET limit; the moment we ask."""
        time.sleep(max(0.0, self._last_get + PAGE_INTERVAL - time.monotonic()))
        self._last_get = time.monotonic()
        return datetime.now(UTC)

    def _next(self, link: Any, current: str) -> str | None:
        """The next page: Sendcloud's `next` URL, or a bare cursor put into the current URL."""
        if link is None or link == "":
            return None
        if isinstance(link, str) and link.startswith(("http://", "https://")):
            # Our keys go with it: only ever to the API's own host.
            if urlsplit(link).netloc != urlsplit(self.client.v2_url).netloc:
                raise UnexpectedResponse("Sendcloud's next page is on another host; not followed")
            return link
        parts = urlsplit(current)
        query = dict(parse_qsl(parts.query)) | {"cursor": str(link)}
        return urlunsplit(parts._replace(query=urlencode(query)))

    def _mark(self) -> dict[str, Any]:
        with self.db.begin_read() as conn:
            row = conn.execute(sa.select(marks).where(marks.c.name == MARK)).first()
        return {} if row is None else dict(row._mapping)

    def _save(self, **values: Any) -> None:
        upsert = self.db.insert(marks).values(name=MARK, **values)
        upsert = upsert.on_conflict_do_update(index_elements=[marks.c.name], set_=values)
        with self.db.begin_write() as conn:
            conn.execute(upsert)

    def last(self) -> RunResult | None:
        """The last finished run, for the onboarding page."""
        mark = self._mark()
        if mark.get("last_run_at") is None:
            return None
        return RunResult(
            mark["last_kind"], mark["last_read"], mark["last_corrected"], mark["last_run_at"]
        )

    def after_verified(self) -> None:
        """A verified round trip (onboarding, drift repaired): reconcile in the background,
        the first time as a backfill of RECONCILE_BACKFILL_DAYS."""
        # Not a daemon: a CLI bootstrap's process waits for it before exiting.
        self._thread = threading.Thread(target=self._background, name="reconcile")
        self._thread.start()

    def _background(self) -> None:
        kind = "backfill"
        try:
            kind = "after onboarding" if self._mark().get("updated_after") else kind
            self.run(kind=kind)
        except (BootstrapError, StorageUnavailable) as exc:
            log.warning("reconcile_failed kind=%s error=%s", kind, exc)

    def close(self) -> None:
        """Wait for a background run (bounded by the client's retry budget per page)."""
        if self._thread is not None:
            self._thread.join(timeout=30)
