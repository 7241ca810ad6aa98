"""How the page shows settings and attempts: diff rows, values in words, what to do next."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bootstrap.owned import OwnedSettings

# States in which the page keeps polling; timed_out too, because a test webhook pressed in
# the Sendcloud panel still completes the proof.
LIVE_STATES = ("planned", "applying", "awaiting_webhook", "timed_out")
# States whose message (what went wrong) the page shows next to the steps.
PROBLEM_STATES = ("failed", "timed_out", "drifted", "deleted")
STATE_LABELS = {
    "planned": "Planned",
    "applying": "Applying…",
    "awaiting_webhook": "Waiting for Sendcloud's webhook…",
    "verified": "Verified",
    "failed": "Failed",
    "timed_out": "No webhook yet",
    "drifted": "Drifted",
    "deleted": "Integration deleted",
}
TEST_WEBHOOK_ADVICE = (
    "No webhook arrived within the wait. Open Sendcloud → Settings → Integrations, open this "
    'integration and press "Test API Webhook": when the test webhook arrives, this page turns '
    "verified by itself. If nothing arrives, check that Sendcloud can reach the webhook URL."
)
_STEP_ADVICE = {
    "credentials": (
        "Sendcloud did not accept the keys. Check SENDCLOUD_PUBLIC_KEY and SENDCLOUD_SECRET_KEY "
        "(Sendcloud → Settings → Integrations → your API integration). An integration without "
        '"Use OAuth2 authentication" needs SENDCLOUD_AUTH=basic, and one with it needs oauth2.'
    ),
    "integration_found": (
        "Reading the integration failed; Sendcloud's answer is shown above. If it does not know "
        "the integration, check SENDCLOUD_INTEGRATION_ID: it is the number at the end of the "
        "integration's address in the Sendcloud panel, and the keys must belong to it."
    ),
    "public_url_reachable": (
        "This service could not reach its own webhook URL the way Sendcloud would. Set PUBLIC_URL "
        "to its https:// address (behind a proxy or Heroku's router, set TRUSTED_PROXY_HOPS=1 "
        "instead) and make sure SENDCLOUD_WEBHOOK_SECRET is the key Sendcloud signs with."
    ),
    "change_applied": (
        "Sendcloud did not apply the change; its answer is shown above. Fix what it names "
        "(for example the service-point carriers) and apply again."
    ),
    "read_back": (
        "Sendcloud answered, but reading the integration back did not show the change. Someone "
        "may have changed it at the same moment: apply again."
    ),
    "webhook_received": TEST_WEBHOOK_ADVICE,
}
_STATE_ADVICE = {
    "timed_out": TEST_WEBHOOK_ADVICE,
    "drifted": (
        "The integration at Sendcloud no longer matches what this service set (someone changed "
        "it in the Sendcloud panel, or another deployment claimed it). Apply again to restore "
        "it, or Undo to go back to the settings from before the last change."
    ),
    "deleted": (
        "The integration was deleted in Sendcloud, so Sendcloud no longer calls this service. "
        "Create a new API integration, set SENDCLOUD_INTEGRATION_ID and its keys, and open this "
        "page again."
    ),
    "failed": "The setup stopped; the failed step says why. Fix it and apply again.",
}


def advice(state: str, steps: Iterable[Mapping[str, Any]], hint: str | None = None) -> str | None:
    """The next thing to do for an attempt in `state`, or None when nothing is needed."""
    # A failure's own hint (e.g. which auth mode to use) is more precise than a step's advice.
    if state == "failed":
        if hint:
            return hint
        for step in steps:
            if step.get("status") == "failed":
                return _STEP_ADVICE.get(str(step.get("name")), _STATE_ADVICE[state])
    return _STATE_ADVICE.get(state)


def when(iso: str | None) -> str:
    """An ISO timestamp from the JSON state as the page shows it (UTC, to the second)."""
    try:
        moment = datetime.fromisoformat(iso or "")
    except ValueError:
        return iso or ""
    if moment.tzinfo is None:
        return iso or ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def state_label(attempt: Mapping[str, Any]) -> str:
    """The words for an attempt's state; a finished undo reads "Restored"."""
    if attempt.get("kind") == "undo" and attempt["state"] == "verified":
        return "Restored"
    state = str(attempt["state"])
    return STATE_LABELS.get(state, state)


@dataclass(frozen=True)
class DiffRow:
    """One owned field: its value at Sendcloud now and after the change."""

    name: str
    label: str
    current: str
    planned: str
    changed: bool


def in_words(value: Any) -> str:
    """A setting's value as the page shows it."""
    if value is None or value == "":
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) if value else "none"
    return str(value)


def diff_rows(
    current: Mapping[str, Any], wanted: Mapping[str, Any], changed: Sequence[str]
) -> list[DiffRow]:
    """One row per owned field, in a fixed order, marking the fields the change touches."""
    return [
        DiffRow(
            name, label, in_words(current.get(name)), in_words(wanted.get(name)), name in changed
        )
        for name, label in OwnedSettings.labels().items()
    ]
