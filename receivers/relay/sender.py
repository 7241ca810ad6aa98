"""The relay dispatcher: fans stored events out, sends them signed, retries on the schedule
(two senders per destination and why: docs/performance.md, "Relay performance")."""

from __future__ import annotations

import functools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from standardwebhooks.webhooks import Webhook

from receivers.errors import StorageUnavailable
from receivers.relay.deliveries import FAN_OUT_BATCH, Claimed, Deliveries, Result
from receivers.relay.destinations import Destination, Destinations, address_problem
from receivers.relay.settings import TIMEOUT_SECONDS

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
BATCH = 32  # deliveries claimed at once per destination (2 rounds of sends: within the lease)
PARALLEL = 16  # of which sent at the same time
SENDERS = 2  # per destination
PRUNE_EVERY = timedelta(hours=1)
MAX_LOGGED_BODY = 1024


def signed_headers(destination: Destination, webhook_id: str, body: str) -> dict[str, str]:
    """Standard Webhooks headers; during a rotation both secrets sign (the consumer accepts
    either)."""
    now = datetime.now(UTC)
    signatures = [Webhook(s).sign(webhook_id, now, body) for s in destination.secrets_in_use(now)]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
        "user-agent": "sendcloud-webhook-relay",
    }


def deliver(
    session: requests.Session, destination: Destination, claimed: Claimed, refused: str | None
) -> Result:
    """One attempt: POST the signed body, without following redirects (`refused`: the reason
    the destination's address may not be used now, if any)."""
    started = time.monotonic()
    status: int | None = None
    error = refused
    if error is None:
        try:
            headers = signed_headers(destination, claimed.webhook_id, claimed.body)
            with session.post(
                destination.url,
                data=claimed.body.encode(),
                headers=headers,
                timeout=TIMEOUT_SECONDS,
                allow_redirects=False,
                stream=True,
            ) as response:
                status = response.status_code
                if not 200 <= status < 300:
                    excerpt = response.raw.read(MAX_LOGGED_BODY, decode_content=True)
                    error = excerpt.decode("utf-8", errors="replace") or response.reason
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: could not reach the destination"
    latency = round((time.monotonic() - started) * 1000)
    if error is not None:
        log.info(
            "relay_attempt_failed destination=%s delivery=%s status=%s error=%.200s",
            destination.id,
            claimed.id,
            status,
            error,
        )
    return Result(claimed, status, latency, error)


class Relay:
    """The dispatcher: `run()` in the worker process, or `start()` as threads (sandbox)."""

    def __init__(self, destinations: Destinations, deliveries: Deliveries) -> None:
        self.destinations = destinations
        self.deliveries = deliveries
        self.settings = deliveries.settings
        self._stop = threading.Event()
        self._threads: dict[tuple[int, int], threading.Thread] = {}
        self._supervisor: threading.Thread | None = None
        self._pruned_at = datetime.min.replace(tzinfo=UTC)

    def start(self) -> None:
        """Run in background threads until `stop()`."""
        self._supervisor = threading.Thread(target=self.run, name="relay", daemon=True)
        self._supervisor.start()

    def stop(self) -> None:
        """Stop every thread (each finishes its current batch)."""
        self._stop.set()
        for thread in [*self._threads.values(), self._supervisor]:
            if thread is not None:
                thread.join(TIMEOUT_SECONDS + 5)

    def run(self) -> None:
        """Keep two senders per enabled destination running, prune hourly; until stopped."""
        log.info("relay_started")
        while not self._stop.is_set():
            try:
                self._tick()
            except StorageUnavailable as exc:
                log.warning("relay_storage_unavailable error=%s", exc)
                self._stop.wait(5)
            self._stop.wait(POLL_SECONDS)

    def _tick(self) -> None:
        for key in [
            (dest.id, n) for dest in self.destinations.all() if dest.enabled for n in range(SENDERS)
        ]:
            if (thread := self._threads.get(key)) is None or not thread.is_alive():
                self._threads[key] = thread = threading.Thread(
                    target=self._send_loop, args=(key[0],), name=f"relay-{key}", daemon=True
                )
                thread.start()
        now = datetime.now(UTC)
        if now - self._pruned_at > PRUNE_EVERY:
            self._pruned_at = now
            pruned = self.deliveries.prune()
            log.info("relay_pruned events=%d", pruned)

    def _send_loop(self, destination_id: int) -> None:
        session = requests.Session()
        # No proxy or .netrc from the environment: the address checked is the one called.
        session.trust_env = False
        for scheme in ("https://", "http://"):
            session.mount(scheme, HTTPAdapter(pool_maxsize=PARALLEL))
        with session, ThreadPoolExecutor(PARALLEL, f"relay-{destination_id}-send") as pool:
            while not self._stop.is_set():
                try:
                    dest = self.destinations.get(destination_id)
                    if not dest.enabled:
                        return  # the supervisor starts a new one if it is enabled again
                    busy = self.deliveries.fan_out(dest) == FAN_OUT_BATCH
                    busy |= self.send(dest, session, pool) == BATCH
                except StorageUnavailable as exc:
                    log.warning("relay_storage_unavailable error=%s", exc)
                    busy = False
                except Exception as exc:  # noqa: BLE001 (removed meanwhile, or a bug: log, go on)
                    log.warning(
                        "relay_sender_stopped destination=%s error=%s",
                        destination_id,
                        type(exc).__name__,
                    )
                    return
                if not busy:
                    self._stop.wait(POLL_SECONDS)

    def send(
        self,
        destination: Destination,
        session: requests.Session,
        pool: ThreadPoolExecutor | None = None,
        delivery_id: int | None = None,
    ) -> int:
        """Claim due deliveries (or just `delivery_id`), send them, record what happened."""
        claimed = self.deliveries.claim(destination.id, BATCH, delivery_id)
        if not claimed:
            return 0

        parts = urlsplit(destination.url)
        # Checked again at send time: a DNS name may point elsewhere now than when it was added.
        refused = address_problem(parts.hostname or "", parts.port, parts.scheme, self.settings)

        attempt = functools.partial(deliver, session, destination, refused=refused)
        results = list((pool.map if pool else map)(attempt, claimed))
        if self.deliveries.record(destination, results):
            log.warning(
                "relay_destination_disabled destination=%s: every delivery failed for "
                "5 days; re-enable it on the onboarding page",
                destination.id,
            )
        return len(claimed)

    def send_test(self, destination_id: int) -> dict[str, Any]:
        """Send a signed test event to a destination now; returns the delivery as listed."""
        self.destinations.get(destination_id)
        return self._send_now(destination_id, self.deliveries.add_test(destination_id))

    def retry(self, delivery_id: int) -> dict[str, Any]:
        """Send a delivery again now; returns it as listed."""
        return self._send_now(self.deliveries.retry(delivery_id), delivery_id)

    def _send_now(self, destination_id: int, delivery_id: int) -> dict[str, Any]:
        tried = len(self.deliveries.recent(destination_id, 1, delivery_id)[0]["attempts"])
        with requests.Session() as session:
            session.trust_env = False
            self.send(self.destinations.get(destination_id), session, None, delivery_id)
        # A running relay may have claimed it first: its attempt is the answer.
        deadline = time.monotonic() + TIMEOUT_SECONDS + 5
        while True:
            found = self.deliveries.recent(destination_id, 1, delivery_id)[0]
            if len(found["attempts"]) > tried or time.monotonic() > deadline:
                return found
            time.sleep(0.1)
