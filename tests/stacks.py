"""Stack config as Pulumi hands it over, with settings changed for one test; the program's graph for a config,
planned once per test worker; the plan command run in-process; and the planned containers."""

from __future__ import annotations

import io
import json
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from typing import Any
from unittest import mock

from offline.engine import Graph, run, stack_config, stack_settings
from offline.plan import main as plan_main
from settings import PROJECT, Settings

_PLANNED: dict[str, Graph] = {}


def planned(stack: str, config: dict[str, str] | None = None) -> Graph:
    """The program's graph for `stack` with `config` (its stack file's by default), planned once per test worker:
    the program is deterministic for a config and tests never change a graph. A test that patches something the
    program reads (the model catalogue) calls offline.engine.run itself."""
    config = stack_config(stack) if config is None else config
    key = json.dumps([stack, config], sort_keys=True)
    if key not in _PLANNED:
        _PLANNED[key] = run(stack, config)
    return _PLANNED[key]


def config_with(stack: str, **overrides: Any) -> dict[str, str]:
    """Stack `stack`'s config with top-level settings replaced; a dict merges into an existing object."""
    config = dict(stack_config(stack))
    for key, value in overrides.items():
        full_key = f"{PROJECT}:{key}"
        merged = {**json.loads(config[full_key]), **value} if isinstance(value, dict) and full_key in config \
            else value
        config[full_key] = merged if isinstance(merged, str) else json.dumps(merged)
    return config


def settings_of(graph: Graph, config: dict[str, str] | None = None) -> Settings:
    """The settings `graph` was planned with: its stack file's, or `config`."""
    return stack_settings(graph.stack, config)


def run_with(stack: str, **overrides: Any) -> Graph:
    return planned(stack, config_with(stack, **overrides))


def plan_command(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m offline.plan <args>` in this process, its program runs shared with the tests' (`planned`); the
    command line itself is run as a user runs it in test_plan.py."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), mock.patch("offline.plan.run", planned):
        code = plan_main(list(args))
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"


def containers(graph: Graph, family_suffix: str) -> list[dict[str, Any]]:
    return json.loads(graph.one(TASK_DEFINITION, family_suffix).inputs["containerDefinitions"])


def container(graph: Graph, service: str) -> dict[str, Any]:
    """The service's one container, as its task definition plans it."""
    (definition,) = containers(graph, f"-{service}-task")
    return definition


def env(definition: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in definition.get("environment", [])}
