"""OpenAPI generation for the task API: every serializer field also gets an `example`, taken from
its serializer's `field_examples` (so an LLM reading the schema sees a value for each field)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ExampleFieldsAutoSchema(AutoSchema):
    def _get_serializer_field_meta(self, field: Any, direction: str) -> dict[str, Any]:
        meta = super()._get_serializer_field_meta(field, direction)
        parent = getattr(field, "parent", None)
        if isinstance(parent, serializers.ListSerializer):
            parent = parent.child
        examples = getattr(parent, "field_examples", None) or {}
        if getattr(field, "field_name", None) in examples:
            meta["example"] = examples[field.field_name]
        return meta
