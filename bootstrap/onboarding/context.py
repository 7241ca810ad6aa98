"""What the onboarding views and command share: the settings and the onboarding token."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from bootstrap.settings import BootstrapSettings
from receivers.access import OperatorToken


@dataclass(frozen=True)
class OnboardingContext:
    """The effective bootstrap settings (after the sandbox) and the onboarding token."""

    settings: BootstrapSettings
    token: OperatorToken


def context(app: Flask) -> OnboardingContext:
    """The onboarding context of `app`."""
    found: OnboardingContext = app.extensions["onboarding"]
    return found
