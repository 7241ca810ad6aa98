"""What the operator asked for, from the page's form or the API's JSON body (no flask here)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.datastructures import MultiDict

from bootstrap.settings import parse_carriers

DEFAULT_WAIT_SECONDS = 60
MAX_WAIT_SECONDS = 600
NO_CARRIER = (
    "Service points are on but no carrier is chosen: enter at least one carrier code "
    "(e.g. postnl, dhl), or switch service points off."
)


@dataclass(frozen=True)
class ApplyRequest:
    """The service-point settings to apply and how long to wait for the round trip."""

    service_point_enabled: bool
    service_point_carriers: tuple[str, ...]
    wait_seconds: int = DEFAULT_WAIT_SECONDS


class InvalidInput(ValueError):
    """The form or body cannot be applied; `problems` are plain-words sentences."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


def from_form(form: MultiDict[str, str]) -> ApplyRequest:
    """The page's form: a service-points box, carriers ticked or typed (Sendcloud's list unread)."""
    enabled = form.get("service_point_enabled") in ("on", "true", "1")
    carriers, problems = parse_carriers(",".join(form.getlist("service_point_carriers")))
    if enabled and not carriers and not problems:
        problems.append(NO_CARRIER)
    if problems:
        raise InvalidInput(problems)
    return ApplyRequest(enabled, carriers)


class _Carriers(fields.Field[tuple[str, ...]]):
    """A list of carrier codes, or one comma-separated string of them."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            value = ",".join(value)
        if not isinstance(value, str):
            raise ValidationError('must be a list of carrier codes, e.g. ["postnl", "dhl"]')
        carriers, problems = parse_carriers(value)
        if problems:
            raise ValidationError(problems)
        return carriers


class _ApplySchema(Schema):
    service_point_enabled = fields.Bool()
    service_point_carriers = _Carriers()
    wait_seconds = fields.Int(validate=validate.Range(min=1, max=MAX_WAIT_SECONDS))


def from_json(body: Any, defaults: ApplyRequest) -> ApplyRequest:
    """Read the API's optional JSON body; absent fields keep the configured `defaults`."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidInput(["the body must be a JSON object"])
    try:
        loaded: dict[str, Any] = _ApplySchema().load(body)
    except ValidationError as exc:
        messages = exc.messages_dict.items()
        raise InvalidInput(
            [f"{name}: {' '.join(map(str, msgs))}" for name, msgs in messages]
        ) from exc
    # The schema's fields are ApplyRequest's: what the body leaves out keeps its default.
    request = dataclasses.replace(defaults, **loaded)
    if request.service_point_enabled and not request.service_point_carriers:
        raise InvalidInput([NO_CARRIER])
    return request
