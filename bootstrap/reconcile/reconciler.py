"""Reconciliation: parcel states read from Sendcloud's parcels list make up for lost webhooks
(the ordering argument and the resume rules are in docs/reconcile.md)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from bootstrap.errors import BootstrapError, SendcloudRejected, UnexpectedResponse
from bootstrap.sendcloud.client import SendcloudClient
from receivers.db import Database
from receivers.errors import StorageUnavailable
from receivers.handling import Receiver
from receivers.schemas import classify
from receivers.tables import reconcile_marks as marks

log = logging.getLogger(__name__)

# Clock skew and replication lag at Sendcloud; also the overlap between runs, so a parcel
# whose correction lost to a webhook within this margin is read again by the next run.
ORDER_MARGIN = timedelta(seconds=60)
PAGE_INTERVAL = 0.1  # seconds before each page: Sendcloud allows 1,000 GET requests a minute
MARK = "parcels"


class Reconciler:
    """Reads the parcels changed at Sendcloud and records the statuses we missed."""

    def __init__(
        self, client: SendcloudClient, receiver: Receiver, db: Database, backfill_days: int
    ) -> None:
        self.client, self.receiver, self.db = client, receiver, db
        self.backfill = timedelta(days=backfill_days)
        self._lock = threading.Lock()  # one run at a time in this process
        self._thread: threading.Thread | None = None

    def run(self, since: datetime | None = None, dry_run: bool = False) -> tuple[int, int]:
        """(parcels read, states corrected) from `since`, else resuming an interrupted run,
        else from the mark (at first RECONCILE_BACKFILL_DAYS back). Raises BootstrapError or
        StorageUnavailable."""
        with self._lock:
            return self._run(since, dry_run, "manual")

    def _run(self, since: datetime | None, dry_run: bool, kind: str) -> tuple[int, int]:
        mark, started = self.last(), datetime.now(UTC)
        known, url = mark.get("updated_after"), mark.get("resume_url") if since is None else None
        started = mark["run_started_at"] if url else started
        # Only a run from the mark (or earlier) moves it: a later --since would leave a gap.
        covering = bool(url) or known is None or (since or known) <= known
        read = corrected = 0
        while url != "":
            if url is None:  # a fresh run, or the resumed cursor expired: from the start
                start = since or known or started - self.backfill
                query = urlencode({"updated_after": start.isoformat()})
                url = f"{self.client.v2_url}/parcels?{query}"
            time.sleep(PAGE_INTERVAL)  # never more than 600 pages a minute
            asked = datetime.now(UTC)
            try:
                page = self.client.parcels_page(url)
            except SendcloudRejected as exc:
                if exc.status != 404 or url != mark.get("resume_url"):
                    raise
                url = mark["resume_url"] = None
                continue
            if not isinstance(page, dict) or not isinstance(page.get("parcels"), list):
                raise UnexpectedResponse("Sendcloud's answer to GET /parcels lists no parcels")
            for parcel in page["parcels"]:
                read += 1
                corrected += self._correct(parcel, asked, dry_run)
            url = self._next(page.get("next"), url)
            if covering and not dry_run:  # the page is fully recorded: resume after it
                self._save(resume_url=url or None, run_started_at=started)
        if not dry_run:
            done = {"last_run_at": datetime.now(UTC), "last_kind": kind, "last_read": read}
            if covering:
                moved = started - ORDER_MARGIN
                done |= {"updated_after": max(moved, known or moved), "run_started_at": None}
            self._save(**done, last_corrected=corrected)
        log.info("reconcile_done kind=%s read=%d corrected=%d", kind, read, corrected)
        return read, corrected

    def _correct(self, parcel: Any, asked: datetime, dry_run: bool) -> bool:
        """Record `parcel`'s status if it differs from ours and is newer; True if applied."""
        # The list shows the status as it is when we ask, whatever moment its zone-less
        # date_updated stands for.
        timestamp = int((asked - ORDER_MARGIN).timestamp() * 1000)
        payload = {"action": "parcel_status_changed", "timestamp": timestamp, "parcel": parcel}
        found = classify(payload)
        if found.kind != "parcel":
            log.warning("reconcile_parcel_skipped reason=unexpected_shape")
            return False
        ours, new = self.receiver.store.parcel_state(found.state["parcel_id"]), found.state
        if ours and (ours.status_id == new["status_id"] or ours.event_timestamp >= timestamp):
            return False
        event = None if dry_run else self.receiver.reconciled(payload)
        return dry_run or (event is not None and event.outcome == "applied")

    def _next(self, link: Any, current: str) -> str:
        """The next page ("" for none): Sendcloud's `next` URL, or a bare cursor put into the
        current URL."""
        if not link:
            return ""
        if not str(link).startswith(("http://", "https://")):
            parts = urlsplit(current)
            query = dict(parse_qsl(parts.query)) | {"cursor": str(link)}
            return urlunsplit(parts._replace(query=urlencode(query)))
        if urlsplit(link).netloc != urlsplit(self.client.v2_url).netloc:  # our keys go with it
            raise UnexpectedResponse("Sendcloud's next page is on another host; not followed")
        return str(link)

    def last(self) -> dict[str, Any]:
        """The stored progress, and what the last finished run did (last_run_at, …)."""
        with self.db.begin_read() as conn:
            row = conn.execute(sa.select(marks).where(marks.c.name == MARK)).first()
        return {} if row is None else dict(row._mapping)

    def _save(self, **values: Any) -> None:
        upsert = self.db.insert(marks).values(name=MARK, **values)
        with self.db.begin_write() as conn:
            conn.execute(upsert.on_conflict_do_update(index_elements=[marks.c.name], set_=values))

    def after_verified(self) -> None:
        """A round trip was verified (onboarding, drift repaired): a run in the background,
        the first one a backfill of RECONCILE_BACKFILL_DAYS. Not a daemon thread, so a CLI
        bootstrap waits for it before its process exits."""
        self._thread = threading.Thread(target=self._background, name="reconcile")
        self._thread.start()

    def _background(self) -> None:
        try:
            kind = "after onboarding" if self.last().get("updated_after") else "backfill"
            with self._lock:
                self._run(None, False, kind)
        except (BootstrapError, StorageUnavailable) as exc:
            log.warning("reconcile_failed error=%s", exc)

    def close(self) -> None:
        """Wait for a background run."""
        if self._thread is not None:
            self._thread.join(timeout=30)
