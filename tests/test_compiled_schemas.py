"""Compiled loaders give exactly marshmallow's answers, and refuse what they do not reproduce."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from receivers.compiled_schemas import NotCompilable, compile_schema
from receivers.schemas import _SCHEMAS, LOADERS
from tests.benchmarks.bench_receiver import make_body

_DROP = object()
# Every kind of JSON value, plus the edges of the int64 range the schemas enforce.
ODD_VALUES: list[Any] = [
    _DROP,
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    1.0,
    1.5,
    "1",
    "",
    "text \u00e9",
    [],
    [1],
    {},
    {"id": 1},
    {"id": 1, "message": "m"},
]


def _outcome(load: Callable[[Any], Any], payload: Any) -> tuple[str, Any]:
    try:
        return "loaded", load(copy.deepcopy(payload))
    except ValidationError:
        return "invalid", None


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from _paths(inner, (*prefix, key))


def _with(payload: dict[str, Any], path: tuple[str, ...], new: Any) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    target = changed
    for key in path[:-1]:
        target = target[key]
    if new is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return changed


BASES: dict[str, list[dict[str, Any]]] = {
    "parcel_status_changed": [
        json.loads(make_body(7)),
        {
            "action": "parcel_status_changed",
            "timestamp": 1,
            "parcel": {"id": 2, "status": {"id": 3}},
        },
    ],
    "test_webhook": [{"action": "test_webhook", "timestamp": 5}, {"action": "test_webhook"}],
    "bootstrap_preflight": [{"action": "bootstrap_preflight", "timestamp": 1, "nonce": "n"}],
}


def test_the_hot_actions_are_compiled_and_the_rest_use_marshmallow() -> None:
    compiled = {action for action, load in LOADERS.items() if load != _SCHEMAS[action].load}
    assert compiled == set(BASES)


@pytest.mark.parametrize("action", sorted(BASES))
def test_compiled_loader_agrees_with_marshmallow_on_every_single_field_change(
    action: str,
) -> None:
    schema, compiled = _SCHEMAS[action], LOADERS[action]
    checked = 0
    for base in BASES[action]:
        # Declared fields that the base lacks are tried too (added, with each odd value).
        paths = set(_paths(base)) | {(name,) for name in schema.load_fields}
        parcel = base.get("parcel")
        if isinstance(parcel, dict):
            paths |= {("parcel", "tracking_number"), ("parcel", "status", "message")}
        for path in sorted(paths):
            for value in ODD_VALUES:
                try:
                    payload = _with(base, path, value)
                except (KeyError, TypeError):
                    continue  # a parent of this path is not a dict in this base
                assert _outcome(compiled, payload) == _outcome(schema.load, payload), (
                    path,
                    value,
                )
                checked += 1
    for not_a_mapping in (None, [], "x", 1, [BASES[action][0]]):
        assert _outcome(compiled, not_a_mapping) == ("invalid", None)
        assert _outcome(schema.load, not_a_mapping) == ("invalid", None)
    assert checked >= 3 * len(ODD_VALUES)


def test_validators_and_defaults_behave_as_in_marshmallow() -> None:
    class Inner(Schema):
        class Meta:
            unknown = EXCLUDE

        code = fields.String(required=True, validate=validate.OneOf(["a", "b"]))

    class Outer(Schema):
        class Meta:
            unknown = EXCLUDE

        count = fields.Integer(strict=True, validate=validate.Range(min=1, max=3))
        label = fields.String(load_default="none", validate=validate.Length(max=3))
        items = fields.Integer(strict=True, load_default=lambda: 42)
        inner = fields.Nested(Inner, load_default=None)

    schema = Outer()
    compiled = compile_schema(schema)
    payloads: list[dict[str, Any]] = [
        {},
        {"count": 0},
        {"count": 3, "label": "abc"},
        {"label": "abcd"},
        {"inner": {"code": "a"}},
        {"inner": {"code": "c"}},
        {"inner": {}},
        {"inner": None},
        {"count": None},
        {"extra": 1},
    ]
    for payload in payloads:
        assert _outcome(compiled, payload) == _outcome(schema.load, payload), payload


def test_what_is_not_reproduced_is_refused() -> None:
    class Hooked(Schema):
        class Meta:
            unknown = EXCLUDE

        name = fields.String()

        @pre_load
        def lower(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
            return data

    class Lenient(Schema):
        class Meta:
            unknown = EXCLUDE

    refused = [
        Hooked(),
        Lenient.from_dict({"n": fields.Integer()})(),  # not strict: "1" would be accepted
        Lenient.from_dict({"n": fields.Boolean()})(),
        Lenient.from_dict({"n": fields.String(data_key="N")})(),
        Lenient.from_dict({"n": fields.Nested(Lenient, many=True)})(),
        Lenient.from_dict({"n": fields.String()})(unknown="raise"),
    ]
    for schema in refused:
        with pytest.raises(NotCompilable):
            compile_schema(schema)
