"""What the operator should do next, in plain words, for each state and failed step."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

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
    "integration found": (
        "Reading the integration failed; Sendcloud's answer is shown above. If it does not know "
        "the integration, check SENDCLOUD_INTEGRATION_ID: it is the number at the end of the "
        "integration's address in the Sendcloud panel, and the keys must belong to it."
    ),
    "public url reachable": (
        "This service could not reach its own webhook URL the way Sendcloud would. Set PUBLIC_URL "
        "to its https:// address (behind a proxy or Heroku's router, set TRUSTED_PROXY_HOPS=1 "
        "instead) and make sure SENDCLOUD_WEBHOOK_SECRET is the key Sendcloud signs with."
    ),
    "change applied": (
        "Sendcloud did not apply the change; its answer is shown above. Fix what it names "
        "(for example the service-point carriers) and apply again."
    ),
    "read back": (
        "Sendcloud answered, but reading the integration back did not show the change. Someone "
        "may have changed it at the same moment: apply again."
    ),
    "webhook received": TEST_WEBHOOK_ADVICE,
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


def _step_key(name: str) -> str:
    return name.replace("_", " ").strip().lower()


def advice(state: str, steps: Iterable[Mapping[str, Any]], hint: str | None = None) -> str | None:
    """The next thing to do for an attempt in `state`, or None when nothing is needed.

    A failure's own hint (e.g. which auth mode to use) is more precise than a step's advice.
    """
    if state == "failed":
        if hint:
            return hint
        for step in steps:
            if step.get("status") == "failed":
                return _STEP_ADVICE.get(_step_key(str(step.get("name", ""))), _STATE_ADVICE[state])
    return _STATE_ADVICE.get(state)
