"""This process's effective Sendcloud configuration, rebuilt when the stored keys change
(in any worker or instance: each page, API or CLI use reads the row's stamp first)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping

from bootstrap.keys.store import KeyStore, effective_env
from bootstrap.services import BootstrapServices
from bootstrap.settings import BootstrapSettings, load_bootstrap_settings
from receivers.errors import StorageUnavailable
from receivers.handling import Receiver
from receivers.signature import SigningKeys
from receivers.store import StoredEvent

log = logging.getLogger(__name__)

Build = Callable[[BootstrapSettings, SigningKeys], BootstrapServices]


def signing_keys(env: Mapping[str, str], settings: BootstrapSettings) -> SigningKeys:
    """The keys webhooks are verified with: the sandbox's, else the (effective) environment's."""
    if settings.sandbox:
        return SigningKeys(settings.secret_key)
    current = env.get("SENDCLOUD_WEBHOOK_SECRET", "").strip() or settings.secret_key
    return SigningKeys(current, env.get("SENDCLOUD_WEBHOOK_SECRET_PREVIOUS", "").strip() or None)


class LiveConfiguration:
    """Hands out the current BootstrapServices; keeps the receiver's keys in step."""

    def __init__(
        self,
        env: Mapping[str, str],
        store: KeyStore,
        build: Build,
        settings: BootstrapSettings,
        receiver: Receiver,
    ) -> None:
        self.env, self.store, self._build, self._receiver = env, store, build, receiver
        self._sandbox_settings = settings if settings.sandbox else None
        self._lock = threading.Lock()
        self._services = build(settings, signing_keys(env, settings))
        self._stamp: object = None
        self.refresh()  # reads the stamp (and rebuilds once, if keys are stored)
        # A signature matching none of our keys may be signed with keys stored a moment ago
        # by another worker: re-read them then (a rejection already costs a write).
        receiver.reload_keys = self.reloaded_keys

    def current(self) -> BootstrapServices:
        """The services for the keys stored now (one small read: never a stale worker's keys)."""
        self.refresh()
        return self._services

    def refresh(self) -> None:
        """Rebuild the services when the stored keys changed since they were built."""
        with self._lock:
            try:
                stamp = self.store.stamp()
            except StorageUnavailable:
                return
            if stamp == self._stamp:
                return
            self._stamp = stamp
            env = effective_env(self.env, self.store.load())
            settings = self._sandbox_settings
            if env is not self.env or settings is None:
                # No keys and no emulator in this process (keys removed): an id to plan with.
                loaded = load_bootstrap_settings(env)
                settings = dataclasses.replace(loaded, integration_id=loaded.integration_id or 1)
            keys = signing_keys(env, settings)
            old, self._services = self._services, self._build(settings, keys)
            self._receiver.keys = keys
            log.info("sendcloud_keys_reloaded sandbox=%s", settings.sandbox)
        # Stopping waits for a running attempt's thread: not in the request that noticed.
        threading.Thread(target=old.bootstrapper.close, daemon=True).start()

    def reloaded_keys(self) -> SigningKeys:
        """The receiver's keys after a refresh."""
        self.refresh()
        return self._receiver.keys

    def on_delivery(self, event: StoredEvent) -> None:
        """Hand a verified delivery to the current watcher (no database read: a hot path)."""
        self._services.watcher.on_delivery(event)

    def close(self) -> None:
        """Stop the current use-cases' threads and connections."""
        self._services.bootstrapper.close()
        self._services.reconciler.close()
