"""Stack config as Pulumi hands it over, with settings changed for one test; and the planned containers."""

from __future__ import annotations

import json
from typing import Any

from offline.engine import Graph, run, stack_config
from settings import PROJECT


def config_with(stack: str, **overrides: Any) -> dict[str, str]:
    """Stack `stack`'s config with top-level settings replaced; a dict merges into an existing object."""
    config = dict(stack_config(stack))
    for key, value in overrides.items():
        full_key = f"{PROJECT}:{key}"
        merged = {**json.loads(config[full_key]), **value} if isinstance(value, dict) and full_key in config \
            else value
        config[full_key] = merged if isinstance(merged, str) else json.dumps(merged)
    return config


def run_with(stack: str, **overrides: Any) -> Graph:
    return run(stack, config_with(stack, **overrides))


TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"


def containers(graph: Graph, family_suffix: str) -> list[dict[str, Any]]:
    return json.loads(graph.one(TASK_DEFINITION, family_suffix).inputs["containerDefinitions"])


def container(graph: Graph, service: str) -> dict[str, Any]:
    """The service's one container, as its task definition plans it."""
    (definition,) = containers(graph, f"-{service}-task")
    return definition


def env(definition: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in definition.get("environment", [])}
