"""Operator API of the relay: destinations, their deliveries, tests and retries (Bearer)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from receivers.api import require_operator_token
from receivers.error_handlers import json_error
from receivers.relay import relay_of
from receivers.relay.destinations import NotFound, RelayError

blueprint = Blueprint("relay_api", __name__)
blueprint.before_request(require_operator_token)

_FIELDS: dict[str, type] = {"url": str, "description": str, "actions": list}
_FIELDS |= dict.fromkeys(("include_stale", "include_unrecognised", "enabled", "rotate"), bool)


class BadInput(ValueError):
    """The request body cannot be used (plain words)."""


def fields(allowed: tuple[str, ...]) -> dict[str, Any]:
    """The JSON body's known fields, type-checked; unknown fields are refused."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadInput(f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    for name, value in body.items():
        if name == "actions" and value is not None:
            if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
                raise BadInput("actions must be a list of Sendcloud action names (or null)")
        elif name != "actions" and not isinstance(value, _FIELDS[name]):
            raise BadInput(f"{name} must be a {_FIELDS[name].__name__}")
    return body


@blueprint.errorhandler(BadInput)
@blueprint.errorhandler(RelayError)
def refused(exc: Exception) -> Response:
    """A body or URL that cannot work: 400; no such destination or delivery: 404."""
    return json_error(str(exc), 404 if isinstance(exc, NotFound) else 400)


@blueprint.get("/api/destinations")
def list_destinations() -> tuple[dict[str, Any], int]:
    """Every destination (without secrets)."""
    found = relay_of(current_app).destinations.all()
    return {"destinations": [dest.to_json() for dest in found]}, 200


@blueprint.post("/api/destinations")
def add_destination() -> tuple[dict[str, Any], int]:
    """Register a destination; the answer shows its `whsec_…` secret, this once."""
    body = fields(("url", "description", "actions", "include_stale", "include_unrecognised"))
    if "url" not in body:
        raise BadInput("url is required")
    dest = relay_of(current_app).destinations.add(**body)
    return dest.to_json() | {"secret": dest.secret}, 201


@blueprint.patch("/api/destinations/<int:destination_id>")
def change_destination(destination_id: int) -> tuple[dict[str, Any], int]:
    """Change fields; `{"rotate": true}` answers with the new secret."""
    body = fields(tuple(_FIELDS))
    dest = relay_of(current_app).destinations.update(destination_id, **body)
    return dest.to_json() | ({"secret": dest.secret} if body.get("rotate") else {}), 200


@blueprint.delete("/api/destinations/<int:destination_id>")
def remove_destination(destination_id: int) -> tuple[str, int]:
    """Remove a destination and its deliveries."""
    relay_of(current_app).destinations.remove(destination_id)
    return "", 204


@blueprint.get("/api/destinations/<int:destination_id>/deliveries")
def deliveries(destination_id: int) -> tuple[dict[str, Any], int]:
    """The newest deliveries to a destination, with their attempts."""
    found = relay_of(current_app)
    dest = found.destinations.get(destination_id)
    return {"destination": dest.to_json(), "deliveries": found.deliveries.recent(dest.id)}, 200


@blueprint.post("/api/destinations/<int:destination_id>/test")
def test(destination_id: int) -> tuple[dict[str, Any], int]:
    """Send a signed test event now; a failed one follows the retry schedule."""
    return relay_of(current_app).send_test(destination_id), 200


@blueprint.post("/api/deliveries/<int:delivery_id>/retry")
def retry(delivery_id: int) -> tuple[dict[str, Any], int]:
    """Send a delivery again now."""
    return relay_of(current_app).retry(delivery_id), 200
