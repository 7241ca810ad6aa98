"""The sandbox's catcher: a relay destination at /sandbox/catcher that verifies and shows what
it receives, so the zero-config tour shows the relay working (add it as a destination)."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from receivers.relay.destinations import Destinations
from receivers.relay.settings import RelaySettings
from receivers.relay.tables import relay_destinations

blueprint = Blueprint("sandbox_catcher", __name__)
PATH = "/catcher"
# Per process: the sandbox runs in the one `flask run` process of the tour.
_received: deque[dict[str, Any]] = deque(maxlen=50)


def _verified(body: bytes, headers: dict[str, str]) -> Any:
    """The envelope if a catcher destination's secret signed it, else None."""
    box = current_app.extensions["sandbox"]
    only = relay_destinations.c.url.endswith("/sandbox" + PATH)
    for dest in Destinations(box.db, RelaySettings()).all(only):
        for secret in dest.secrets_in_use(datetime.now(UTC)):
            try:
                return Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
    return None


@blueprint.post(PATH)
def catch() -> tuple[Response, int]:
    """Verify a relay delivery with the Standard Webhooks library and remember it."""
    envelope = _verified(request.get_data(), dict(request.headers))
    _received.appendleft(
        {
            "webhook_id": request.headers.get("webhook-id"),
            "verified": envelope is not None,
            "type": envelope.get("type") if isinstance(envelope, dict) else None,
            "received_at": datetime.now(UTC).isoformat(),
        }
    )
    return jsonify(verified=envelope is not None), 200 if envelope is not None else 401


@blueprint.get(PATH)
def show() -> Response:
    """What the catcher received, newest first."""
    return jsonify(received=list(_received))
