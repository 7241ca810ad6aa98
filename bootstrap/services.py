"""What the bootstrap's views and commands share, built once per app by `bootstrap.init_app`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, g, has_request_context

from bootstrap.bootstrapper import Bootstrapper
from bootstrap.desired import Chosen, Desired, desired_state
from bootstrap.reconcile.reconciler import Reconciler
from bootstrap.settings import BootstrapSettings
from bootstrap.watch import Watcher
from receivers.access import OperatorToken

if TYPE_CHECKING:
    from bootstrap.keys.live import LiveConfiguration


@dataclass(frozen=True)
class BootstrapServices:
    """The effective settings (after the sandbox), the onboarding token, the use-cases."""

    settings: BootstrapSettings
    token: OperatorToken
    bootstrapper: Bootstrapper
    watcher: Watcher
    reconciler: Reconciler

    def desired(
        self, fallback: tuple[str, str] | None = None, chosen: Chosen | None = None
    ) -> Desired:
        """The one desired state, from the newest applied attempt (see `desired_state`)."""
        applied = self.bootstrapper.attempts.latest_applied(self.bootstrapper.integration_id)
        return desired_state(self.settings, applied, fallback, chosen)


def services(app: Flask) -> BootstrapServices:
    """The bootstrap services of `app`, for the Sendcloud keys in effect now (looked up once
    per request: a view asks several times)."""
    if not has_request_context():
        return live_configuration(app).current()
    if "bootstrap_services" not in g:
        g.bootstrap_services = live_configuration(app).current()
    found: BootstrapServices = g.bootstrap_services
    return found


def live_configuration(app: Flask) -> LiveConfiguration:
    """What resolves `app`'s effective Sendcloud configuration (environment, else stored keys)."""
    found: LiveConfiguration = app.extensions["bootstrap"]
    return found
