"""OpenAPI generation for the task API: every field of a `DocumentedSerializer` also gets an
`example`, taken from the serializer's `field_examples`, so an LLM reading the schema sees a
value for each field. An extension (not an AutoSchema subclass) so it applies whichever view
renders the component first (other apps reuse the error serializers)."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from core.query import END

# DRF's CharField refuses NUL ("Null characters are not allowed."): its request schema says so.
NO_NUL_PATTERN = rf"^[^\u0000]*{END}"


class DocumentedSerializer(serializers.Serializer):
    field_examples: ClassVar[dict[str, Any]] = {}
    # True where `to_internal_value` refuses keys it does not know: the schema then says
    # `additionalProperties: false`, so it describes exactly what is accepted.
    rejects_unknown_keys: ClassVar[bool] = False
    # Nullable fields of which `validate` requires exactly one to be given and not null: the
    # request schema then says so with a `oneOf`.
    exactly_one_of: ClassVar[tuple[str, ...]] = ()
    # An example of the whole object, where examples per field would not make a valid one.
    example: ClassVar[dict[str, Any] | None] = None


class DocumentedSerializerExtension(OpenApiSerializerExtension):
    target_class = DocumentedSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            _state_no_nul(self.target, schema)
        if direction == "request" and getattr(self.target, "rejects_unknown_keys", False):
            schema["additionalProperties"] = False  # the serializer refuses them with a 400
        if direction == "request" and self.target.exactly_one_of:
            schema["oneOf"] = _exactly_one_of(schema["properties"], self.target.exactly_one_of)
        if self.target.example is not None:
            schema["example"] = self.target.example
        examples = self.target.field_examples
        for name, spec in schema.get("properties", {}).items():
            if name in examples:
                spec["example"] = examples[name]
        return schema


def _state_no_nul(serializer: serializers.Serializer, schema: dict[str, Any]) -> None:
    for name, field in serializer.fields.items():
        spec = schema.get("properties", {}).get(name)
        if spec is None or field.read_only:
            continue
        if isinstance(field, serializers.ListField) and isinstance(field.child, serializers.CharField):
            spec = spec.get("items", {})
        elif not isinstance(field, serializers.CharField):
            continue
        if spec.get("type") == "string":
            spec.setdefault("pattern", NO_NUL_PATTERN)


def _exactly_one_of(properties: dict[str, Any], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """One branch per name: that one required and not null, the others absent or null."""
    return [
        {
            "required": [name],
            "properties": {
                other: {key: value for key, value in properties[other].items() if key != "nullable"}
                if other == name
                else {"nullable": True, "not": {}}  # null only (OpenAPI 3.0 has no null type)
                for other in names
            },
        }
        for name in names
    ]
