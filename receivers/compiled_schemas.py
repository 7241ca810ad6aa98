"""Marshmallow schemas compiled into plain functions with the same result as `Schema.load`.

The schemas in `schemas.py` stay the only definition of the payloads. Under load, loading a
`parcel_status_changed` through marshmallow's generic machinery (~70 calls per delivery)
cost a fifth of a receiver worker's CPU (README, receiver benchmark); this module reads a
schema's declared fields once and builds a loader doing only the checks those fields make.
It compiles a deliberately small subset: strict integers, strings and nested schemas, with
any validators, `required`, `allow_none` and `load_default`; a schema using anything else
(hooks, other field types, data_key, …) raises `NotCompilable` and is loaded by
marshmallow itself. `tests/test_compiled_schemas.py` checks both give the same answers.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing

Loader = Callable[[Any], dict[str, Any]]
_Convert = Callable[[Any], Any]


class NotCompilable(Exception):
    """The schema uses something this module does not reproduce; use `Schema.load`."""


def compile_schema(schema: Schema) -> Loader:
    """A function returning what `schema.load(data)` returns, or raising ValidationError."""
    # Hooks (pre_load, post_load, validates, validates_schema) run arbitrary code.
    hooks = schema._hooks  # marshmallow's registry of the schema's hook methods
    if any(hooks.values()) or schema.many or schema.partial or schema.unknown != EXCLUDE:
        raise NotCompilable(f"{type(schema).__name__}: hooks, many, partial or unknown")
    steps = [_field_step(name, field) for name, field in schema.load_fields.items()]

    def load(data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise ValidationError("Invalid input type.")
        result: dict[str, Any] = {}
        for name, convert, required, allow_none, default in steps:
            value = data.get(name, missing)
            if value is missing:
                if required:
                    raise ValidationError(f"{name}: missing")
                if default is not missing:
                    result[name] = default() if callable(default) else default
                continue
            if value is None:
                if not allow_none:
                    raise ValidationError(f"{name}: null")
                result[name] = None
                continue
            result[name] = convert(value)
        return result

    return load


def _field_step(name: str, field: fields.Field[Any]) -> tuple[str, _Convert, bool, bool, Any]:
    if field.data_key is not None or field.attribute is not None:
        raise NotCompilable(f"{name}: data_key or attribute")
    if field.pre_load or field.post_load:
        raise NotCompilable(f"{name}: field-level processors")
    convert = _converter(name, field)
    validators = tuple(field.validators)
    if validators:
        plain = convert

        def convert(value: Any) -> Any:
            output = plain(value)
            for validator in validators:
                validator(output)  # raises ValidationError, exactly as in marshmallow
            return output

    return name, convert, field.required, field.allow_none, field.load_default


def _converter(name: str, field: fields.Field[Any]) -> _Convert:
    # Exact types only: a subclass may change what deserialising means.
    kind = type(field)
    if kind is fields.Integer and isinstance(field, fields.Integer) and field.strict:
        return _strict_integer
    if kind is fields.String:
        return _string
    if kind is fields.Nested and isinstance(field, fields.Nested) and not field.many:
        # compile_schema refuses a nested schema that does not exclude unknown fields.
        if field.unknown not in (None, EXCLUDE):
            raise NotCompilable(f"{name}: nested unknown")
        return compile_schema(field.schema)
    raise NotCompilable(f"{name}: {kind.__name__} is not compiled")


def _strict_integer(value: Any) -> int:
    # marshmallow's Integer(strict=True): integral numbers only, and never a bool.
    if type(value) is int:
        return value
    if value is True or value is False or not isinstance(value, numbers.Integral):
        raise ValidationError("Not a valid integer.")
    return int(value)


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError as exc:
            raise ValidationError("Not a valid utf-8 string.") from exc
    raise ValidationError("Not a valid string.")
