"""Every route LiteLLM serves is classified: public (the edge lets anyone through to it), refused (the request gate
refuses it for everyone) or admin (only admin addresses and the operators' tunnel reach it). The classes are
recorded in tests/litellm_routes.txt for LiteLLM 1.108.7: a LiteLLM upgrade that adds a route, or a change to the
edge or the gate that moves one, fails here until someone classifies it."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from components.edge.public_api import PUBLIC_ROUTES
from offline.engine import ROOT_DIR, Graph
from tests.test_edge_function import answers, edge_code

ROUTES = ROOT_DIR / ".venv-litellm" / "routes.json"
OPENAPI = ROOT_DIR / ".venv-litellm" / "openapi.json"
CLASSES = Path(__file__).with_name("litellm_routes.txt")
OUTSIDER = "192.0.2.1"
# What a path parameter may be: plain words, a served model, a response id, and words that spell other routes.
SAMPLES = ("x", "claude-sonnet-4-5", "resp_abc123", "models", "responses", "v1", "v1/messages")
_spec = importlib.util.spec_from_file_location("request_gate", ROOT_DIR / "images" / "litellm" / "request_gate.py")
gate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gate)


def litellm_routes() -> set[tuple[str, str]]:
    """(method, path template) from LiteLLM's router (make writes .venv-litellm/routes.json) and its OpenAPI."""
    assert ROUTES.exists() and OPENAPI.exists(), "make test writes both from the installed LiteLLM"
    routes = {(method, path) for method, path in json.loads(ROUTES.read_text())}
    spec = json.loads(OPENAPI.read_text())
    return routes | {(method.upper(), path) for path, operations in spec["paths"].items() for method in operations}


def concrete(template: str) -> list[str]:
    """The template with each sample in its parameters; a sample with a slash only where the parameter takes one
    (`{name:path}`), as Starlette routes."""
    return sorted({re.sub(r"\{[^}:]+\}", sample, re.sub(r"\{[^}]+:path\}", sample, template))
                   for sample in SAMPLES if "/" not in sample or ":path}" in template})


def recorded() -> dict[tuple[str, str], str]:
    lines = [line.split(" ", 2) for line in CLASSES.read_text().splitlines() if line and not line.startswith("#")]
    return {(method, path): kind for kind, method, path in lines}


def classify(dev: Graph, routes: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    # No method: a WebSocket route (or a mounted app) - a WebSocket handshake is a GET.
    cases = {(method, template): [(OUTSIDER, "GET" if method == "*" else method, path) for path in concrete(template)]
             for method, template in routes}
    results = answers(edge_code(dev), [case for group in cases.values() for case in group])
    classes = {}
    for route, group in cases.items():
        if all(gate.MODEL_IN_PATH.search(path) for _, _, path in group):
            classes[route] = "refused"
        elif any(results[case] == "origin" for case in group):
            classes[route] = "public"
        else:
            classes[route] = "admin"
    return classes


@pytest.fixture(scope="module")
def classes(dev: Graph) -> dict[tuple[str, str], str]:
    return classify(dev, litellm_routes())


def test_every_route_litellm_serves_is_classified(classes: dict[tuple[str, str], str]) -> None:
    known = recorded()
    unclassified = sorted(set(classes) - set(known))
    assert not unclassified, f"LiteLLM serves routes no one classified; add them to {CLASSES.name}: {unclassified}"
    assert not sorted(set(known) - set(classes)), "routes LiteLLM no longer serves are still listed"


def test_each_route_is_what_its_class_says(classes: dict[tuple[str, str], str]) -> None:
    moved = {route: (recorded()[route], now) for route, now in classes.items() if recorded().get(route) != now}
    assert not moved, f"(recorded, now): {moved}"


def test_the_public_routes_are_the_published_list(classes: dict[tuple[str, str], str]) -> None:
    public = {route for route, kind in classes.items() if kind == "public"}
    as_published = {(method, re.sub(r"\{[^}]+\}", "{}", path)) for method, path in PUBLIC_ROUTES}
    assert {(method, re.sub(r"\{[^}]+\}", "{}", path)) for method, path in public} == as_published
    assert len(classes) > 600 and sum(kind == "admin" for kind in classes.values()) > 500
