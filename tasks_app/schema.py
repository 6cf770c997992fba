"""OpenAPI generation for the task API: every field of a `DocumentedSerializer` also gets an
`example`, taken from the serializer's `field_examples`, so an LLM reading the schema sees a
value for each field. An extension (not an AutoSchema subclass) so it applies whichever view
renders the component first (other apps reuse the error serializers)."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers


class DocumentedSerializer(serializers.Serializer):
    field_examples: ClassVar[dict[str, Any]] = {}
    # True where `to_internal_value` refuses keys it does not know: the schema then says
    # `additionalProperties: false`, so it describes exactly what is accepted.
    rejects_unknown_keys: ClassVar[bool] = False


class DocumentedSerializerExtension(OpenApiSerializerExtension):
    target_class = DocumentedSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request" and getattr(self.target, "rejects_unknown_keys", False):
            schema["additionalProperties"] = False  # the serializer refuses them with a 400
        examples = self.target.field_examples
        for name, spec in schema.get("properties", {}).items():
            if name in examples:
                spec["example"] = examples[name]
        return schema
