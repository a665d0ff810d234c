"""LiteLLM's admin API as the installed proxy (1.108.7, `.venv-litellm`) defines it: the OpenAPI document its FastAPI
app generates (`make` writes it to .venv-litellm/openapi.json), and a check that a request (method, path, query,
body) is one that app accepts: the route exists with that method, every query parameter is declared and of its type,
and the body validates against the route's request model, with no field the model does not declare (LiteLLM's
models ignore unknown fields, so a misspelt one would be dropped silently)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema

from offline.engine import ROOT_DIR

OPENAPI_PATH = ROOT_DIR / ".venv-litellm" / "openapi.json"


@cache
def document() -> dict[str, Any]:
    assert OPENAPI_PATH.exists(), f"{OPENAPI_PATH} is missing: run `make test` (it is written with .venv-litellm)"
    return json.loads(OPENAPI_PATH.read_text())


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """`#/components/...` references resolve against the document's components, carried along."""
    return jsonschema.Draft202012Validator({**schema, "components": document()["components"]})


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _query_value_fits(value: str, schema: dict[str, Any]) -> bool:
    """Query values travel as text; FastAPI converts them to the declared type."""
    kinds = {option.get("type") for option in schema.get("anyOf", [schema])} - {"null"}
    converters = {"string": str, "integer": int, "number": float,
                  "boolean": lambda v: {"true": True, "false": False}[v.lower()]}
    for kind in kinds:
        try:
            converted = converters[kind](value)
        except (KeyError, ValueError):
            continue
        if not list(_validator(schema).iter_errors(converted)):
            return True
    return False


def problems(method: str, path: str, query: dict[str, str], body: dict[str, Any] | None) -> list[str]:
    """Why LiteLLM would refuse or misread this request; empty when it accepts it as sent."""
    operation = document()["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return [f"{method} {path}: no such route in LiteLLM's app"]
    found = []
    declared = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    for name, value in query.items():
        if name not in declared:
            found.append(f"{method} {path}: query parameter {name!r} is not declared")
        elif not _query_value_fits(value, declared[name]["schema"]):
            found.append(f"{method} {path}: query {name}={value!r} does not fit {declared[name]['schema']}")
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return found + ([f"{method} {path}: takes no JSON body"] if body is not None else [])
    if body is None:
        return [*found, f"{method} {path}: needs a JSON body"]
    model = _resolve(content["schema"])
    unknown = sorted(set(body) - set(model.get("properties", {})))
    if unknown:
        found.append(f"{method} {path}: fields {unknown} are not in {model.get('title')}")
    found += [f"{method} {path}: {'.'.join(map(str, e.path)) or 'body'}: {e.message}"
              for e in _validator(content["schema"]).iter_errors(body)]
    return found
