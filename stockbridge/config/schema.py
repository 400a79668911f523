"""One JSON Schema for every store file, derived from the integrations' pydantic models.

``stockbridge schema > schema/store.json`` regenerates the copy editors read: each file in
``configs/`` starts with ``# yaml-language-server: $schema=../schema/store.json``, so an editor
completes keys and flags typos as ``validate`` would.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from stockbridge.integrations import integrations

SCHEMA_PATH = "schema/store.json"


def store_file_schema() -> dict[str, Any]:
    models = tuple(i.config for i in integrations().values())
    union = Annotated[Union[models], Field(discriminator="integration")]  # noqa: UP007
    schema = TypeAdapter(union).json_schema(by_alias=True, mode="validation")
    schema = _shorthands(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stockbridge store file"
    schema["description"] = "One store and integration; see README, Adding a store."
    return schema


LOCATION = "#/$defs/LocationConfig"
ONE_OR_MANY = ("import", "families")
"""Keys that take one value or a list of them (``_as_list`` in the models)."""


def _shorthands(node: Any) -> Any:
    """What the models accept before validation: a location may be a plain path or URL
    string, and a one-or-many key a single value."""
    if isinstance(node, list):
        return [_shorthands(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("$ref") == LOCATION:
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {
            "anyOf": [{"type": "string", "description": "a path or URL"}, {"$ref": LOCATION}],
            **rest,
        }
    result = {key: _shorthands(value) for key, value in node.items()}
    for key in ONE_OR_MANY:
        prop = result.get("properties", {}).get(key)
        if prop and prop.get("type") == "array":
            result["properties"][key] = {"anyOf": [prop["items"], prop]}
        elif prop and "anyOf" in prop:
            arrays = [option for option in prop["anyOf"] if option.get("type") == "array"]
            prop["anyOf"] = [*(a["items"] for a in arrays), *prop["anyOf"]]
    return result
