"""The tools' JSON Schemas, taken from the OpenAPI document that describes REST.

One source: drf-spectacular builds the OpenAPI document from the REST serializers, filters and
`extend_schema` declarations, and every tool names the REST operation (or component) whose
request, parameters or response it shares. So a constraint added to REST's contract (an enum, a
range, `additionalProperties: false`) reaches the tools too.

OpenAPI 3.0 schemas are not quite JSON Schema: `nullable` becomes a `null` type, `example` an
`examples` list, and `#/components/schemas/X` references point into the tool schema's own `$defs`
(the SDK client resolves references within the document only).
"""

from __future__ import annotations

import copy
from typing import Any

from core.query import openapi_document

JsonSchema = dict[str, Any]


def openapi() -> dict[str, Any]:
    """The document `/api/schema/` serves (built once per process: about a second)."""
    return openapi_document()


def _operation(operation_id: str) -> dict[str, Any]:
    for operations in openapi()["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                return operation
    raise LookupError(f"no REST operation {operation_id!r} in the OpenAPI document")


class _Converter:
    """OpenAPI 3.0 schema → JSON Schema 2020-12, collecting referenced components in `defs`."""

    def __init__(self) -> None:
        self.components = openapi()["components"]["schemas"]
        self.defs: dict[str, JsonSchema] = {}

    def ref(self, name: str) -> JsonSchema:
        if name not in self.defs:
            self.defs[name] = {}  # placed first: a component may refer to itself
            self.defs[name] = self.convert(self.components[name])
        return {"$ref": f"#/$defs/{name}"}

    def convert(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return self.ref(node["$ref"].rsplit("/", 1)[1])
        out: JsonSchema = {}
        for key, value in node.items():
            if key == "nullable":
                continue
            if key == "example":
                out["examples"] = [copy.deepcopy(value)]
            elif key == "properties":
                out[key] = {name: self.convert(spec) for name, spec in value.items()}
            else:
                out[key] = self.convert(value)
        if node.get("nullable"):
            out = _nullable(out)
        return out

    def component(self, name: str) -> JsonSchema:
        """The component itself (not a reference to it): a tool's top level must be an object."""
        return self.convert(self.components[name])

    def finish(self, schema: JsonSchema) -> JsonSchema:
        if self.defs:
            schema["$defs"] = self.defs
        return schema


def _nullable(schema: JsonSchema) -> JsonSchema:
    if "type" in schema and "enum" not in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return {**schema, "type": [*types, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _resolve(converter: _Converter, schema: JsonSchema) -> JsonSchema:
    if "$ref" in schema:
        return converter.component(schema["$ref"].rsplit("/", 1)[1])
    return converter.convert(schema)


def request_body(operation_id: str, *, extra: dict[str, JsonSchema] | None = None) -> JsonSchema:
    """The operation's JSON request body as an object schema, plus `extra` properties (a path
    parameter, `idempotency_key`), which take precedence."""
    converter = _Converter()
    body = _operation(operation_id)["requestBody"]["content"]["application/json"]["schema"]
    schema = _resolve(converter, body)
    schema["properties"] = {**schema.get("properties", {}), **(extra or {})}
    return converter.finish(schema)


def parameters(
    operation_id: str,
    *,
    locations: tuple[str, ...] = ("query",),
    extra: dict[str, JsonSchema] | None = None,
    required: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> JsonSchema:
    """The operation's parameters in `locations` as one object schema (a tool takes them all
    as named arguments), each with its REST description, plus `extra` properties; the ones in
    `exclude` are the tool's own business."""
    converter = _Converter()
    properties: dict[str, JsonSchema] = {}
    for parameter in _operation(operation_id).get("parameters", []):
        if parameter["in"] not in locations or parameter["name"] in exclude:
            continue
        spec = converter.convert(parameter.get("schema", {}))
        if parameter.get("description"):
            spec["description"] = parameter["description"]
        properties[parameter["name"]] = spec
    properties.update(extra or {})
    schema: JsonSchema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return converter.finish(schema)


def response(operation_id: str, status: str = "200") -> JsonSchema:
    """The operation's JSON response body for `status`, as an object schema."""
    converter = _Converter()
    content = _operation(operation_id)["responses"][status]["content"]
    schema = next(iter(content.values()))["schema"]
    return converter.finish(_resolve(converter, schema))


def parameter_schema(operation_id: str, name: str) -> JsonSchema:
    """One parameter's schema and description (a path parameter reused as a tool argument)."""
    for parameter in _operation(operation_id).get("parameters", []):
        if parameter["name"] == name:
            converter = _Converter()
            spec = converter.convert(parameter.get("schema", {}))
            if parameter.get("description"):
                spec["description"] = parameter["description"]
            return converter.finish(spec)
    raise LookupError(f"no parameter {name!r} in {operation_id!r}")
