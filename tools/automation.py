"""The gateway as a Python API for platform tools: an offline plan, and preview / up / destroy through Pulumi's
Automation API. Settings overrides are checked by the same settings object as the stack file, before anything
starts; progress reaches a callback; results and errors are typed.

    from tools import automation
    plan = automation.plan("dev", {"litellm": {"maxCount": 3}})      # offline: resources, findings, people
    result = automation.up("prod", on_progress=print)                 # then the smoke test (smoke=False skips)

    python -m tools.automation preview dev     # with the policy pack, as in a pull request
    python -m tools.automation up prod [--no-smoke]
    python -m tools.automation outputs dev

preview/up/destroy need the Pulumi CLI, AWS credentials and a logged-in state backend (see README). The policy pack
and the stack's policy config (policies/config.<stack>.json) are always applied. Overrides apply to that one run
(a merged copy of Pulumi.<stack>.yaml passed as its config file); the stack file is never rewritten.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from offline.engine import ROOT_DIR, as_pulumi_config, project_name, stack_settings
from offline.plan import plan_summary
from settings import Settings, SettingsError
from tools import smoke
from tools.cli import StackOutputs

POLICY_DIR = ROOT_DIR / "policies"
Overrides = Mapping[str, Any]  # settings keys as in the stack file, without the project prefix


class GatewayError(Exception):
    """Anything this API refuses or that failed; the subclasses say which."""


class InvalidSettingsError(GatewayError):
    """The stack file with the overrides is not deployable; the message names every offending key."""


class UnknownStackError(GatewayError):
    """No Pulumi.<stack>.yaml in the project."""


class PulumiMissingError(GatewayError):
    """The Pulumi CLI is not installed where this runs."""


class OperationFailedError(GatewayError):
    """Pulumi ran and failed (a resource, a policy, the program); `output` holds the end of what it printed."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


class SmokeFailedError(GatewayError):
    """The update succeeded but the deployed gateway fails checks its users rely on."""

    def __init__(self, checks: list[smoke.Check]) -> None:
        super().__init__("smoke test failed: " + ", ".join(c.name for c in checks if not c.ok))
        self.checks = checks


@dataclass(frozen=True)
class Progress:
    """One step of a running operation: a resource being planned or changed, a diagnostic, a policy finding."""

    kind: str  # "resource", "diagnostic", "policy"
    message: str
    operation: str | None = None  # create, update, replace, delete, same, ...
    resource_type: str | None = None
    urn: str | None = None


@dataclass(frozen=True)
class Finding:
    policy: str
    level: str
    message: str
    urn: str | None


@dataclass(frozen=True)
class Result:
    stack: str
    operation: str
    changes: dict[str, int]  # operation -> count of resources, as Pulumi summarizes
    outputs: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    smoke: list[smoke.Check] | None = None
    # What the operation deployed: the stack file with the overrides, validated.
    settings: Settings | None = None


@dataclass(frozen=True)
class Plan:
    """The offline plan, as `python -m offline.plan <stack> --json` prints it (`summary`), with its parts typed."""

    stack: str
    settings: Settings
    summary: dict[str, Any]
    findings: list[Finding]

    @property
    def blocked(self) -> bool:
        """Whether a mandatory policy finding would stop `pulumi up`."""
        return self.summary["policies"]["mandatory"] > 0


# --- settings and the stack file --------------------------------------------------------------------------------

def _stack_file(stack: str) -> Path:
    path = ROOT_DIR / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise UnknownStackError(f"no Pulumi.{stack}.yaml in {ROOT_DIR}; stacks: "
                           f"{sorted(p.stem.removeprefix('Pulumi.') for p in ROOT_DIR.glob('Pulumi.*.yaml'))}")
    return path


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, Mapping):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override


def stack_document(stack: str, overrides: Overrides | None = None) -> dict[str, Any]:
    """Pulumi.<stack>.yaml with the overrides merged into its sections (a section's other keys stay)."""
    document = yaml.safe_load(_stack_file(stack).read_text()) or {}
    config = document.setdefault("config", {}) or {}
    prefix = project_name()
    for key, value in (overrides or {}).items():
        name = key if ":" in key else f"{prefix}:{key}"
        config[name] = _merge(config.get(name), value)
    document["config"] = config
    return document


def validate(stack: str, overrides: Overrides | None = None) -> Settings:
    """The settings the operation would deploy; InvalidSettingsError names each bad key, before anything starts."""
    try:
        return stack_settings(stack, as_pulumi_config(stack_document(stack, overrides)["config"]))
    except SettingsError as error:
        raise InvalidSettingsError(str(error)) from None


# --- offline ------------------------------------------------------------------------------------------------------

def plan(stack: str, overrides: Overrides | None = None) -> Plan:
    """The program under the mock engine with the policy pack: no CLI, no cloud, no network."""
    settings = validate(stack, overrides)
    summary = plan_summary(stack, as_pulumi_config(stack_document(stack, overrides)["config"]))
    findings = [Finding(v["policy"], v["level"], v["message"], v["resource"]) for v in summary["policies"]["verdicts"]]
    return Plan(stack=stack, settings=settings, summary=summary, findings=findings)


# --- through Pulumi -----------------------------------------------------------------------------------------------

def policy_options(stack: str) -> dict[str, list[str]]:
    config = POLICY_DIR / f"config.{stack}.json"
    return {"policy_packs": [str(POLICY_DIR)], "policy_pack_configs": [str(config)] if config.exists() else []}


def select(stack: str) -> auto.Stack:
    """The stack of this project, created in the backend if it is new."""
    _stack_file(stack)
    if shutil.which("pulumi") is None:
        raise PulumiMissingError("the Pulumi CLI is not on PATH: https://www.pulumi.com/docs/install/")
    return auto.create_or_select_stack(stack_name=stack, work_dir=str(ROOT_DIR))


@contextmanager
def _config_file(stack: str, overrides: Overrides | None) -> Iterator[str | None]:
    """Without overrides, the stack file itself; with them, a merged copy for this run only."""
    if not overrides:
        yield None
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump(stack_document(stack, overrides), sort_keys=False))
        yield str(path)


def _progress(event: auto.EngineEvent) -> Progress | None:
    if event.resource_pre_event:
        step = event.resource_pre_event.metadata
        return Progress("resource", f"{step.op.value} {step.type} {step.urn.rsplit('::', 1)[-1]}",
                        step.op.value, step.type, step.urn)
    if event.diagnostic_event and event.diagnostic_event.severity in ("warning", "error"):
        diagnostic = event.diagnostic_event
        return Progress("diagnostic", diagnostic.message.strip(), urn=diagnostic.urn)
    if event.policy_event:
        policy = event.policy_event
        return Progress("policy", f"[{policy.enforcement_level}] {policy.policy_name}: {policy.message.strip()}",
                        urn=policy.resource_urn)
    return None


def _run(stack: str, operation: str, overrides: Overrides | None,
         on_progress: Callable[[Progress], None] | None) -> Result:
    settings = validate(stack, overrides)
    workspace_stack = select(stack)
    findings: list[Finding] = []

    def on_event(event: auto.EngineEvent) -> None:
        if event.policy_event:
            policy = event.policy_event
            findings.append(Finding(policy.policy_name, policy.enforcement_level, policy.message.strip(),
                                    policy.resource_urn))
        progress = _progress(event)
        if progress and on_progress:
            on_progress(progress)

    output: list[str] = []
    with _config_file(stack, overrides) as config_file:
        options: dict[str, Any] = {"on_event": on_event, "on_output": output.append, "config_file": config_file}
        if operation != "destroy":
            options |= {"diff": True, **policy_options(stack)}
        try:
            result = getattr(workspace_stack, operation)(**options)
        except auto.errors.CommandError as error:
            raise OperationFailedError(f"pulumi {operation} {stack} failed: {str(error).strip()[-500:]}",
                                       "\n".join(output)[-5000:]) from None
    changes = result.change_summary if operation == "preview" else (result.summary.resource_changes or {})
    outputs = {k: v.value for k, v in getattr(result, "outputs", {}).items()}
    return Result(stack=stack, operation=operation, changes=dict(changes or {}), outputs=outputs, findings=findings,
                  settings=settings)


def preview(stack: str, overrides: Overrides | None = None,
            on_progress: Callable[[Progress], None] | None = None) -> Result:
    return _run(stack, "preview", overrides, on_progress)


def up(stack: str, overrides: Overrides | None = None, on_progress: Callable[[Progress], None] | None = None,
       smoke_test: bool = True) -> Result:
    """Update the stack; then, unless told not to, run the smoke test against it (SmokeFailedError if a check fails)."""
    result = _run(stack, "up", overrides, on_progress)
    if not smoke_test:
        return result
    checks = smoke.checks(smoke.target_of(result.settings, StackOutputs(stack, result.outputs)))
    if any(not c.ok for c in checks):
        raise SmokeFailedError(checks)
    return Result(**{**vars(result), "smoke": checks})


def destroy(stack: str, on_progress: Callable[[Progress], None] | None = None) -> Result:
    return _run(stack, "destroy", None, on_progress)


def outputs(stack: str) -> dict[str, Any]:
    return {key: value.value for key, value in select(stack).outputs().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["preview", "up", "destroy", "outputs"])
    parser.add_argument("stack")
    parser.add_argument("--no-smoke", action="store_true", help="up: skip the smoke test after the update")
    options = parser.parse_args(argv)
    try:
        if options.command == "outputs":
            print(json.dumps(outputs(options.stack), indent=2))
            return 0
        show = lambda progress: print(progress.message)  # noqa: E731
        if options.command == "up":
            result = up(options.stack, on_progress=show, smoke_test=not options.no_smoke)
            if result.smoke:
                print(smoke.render(result.smoke))
        else:
            result = {"preview": preview, "destroy": destroy}[options.command](options.stack, on_progress=show)
        print(json.dumps(result.changes))
    except SmokeFailedError as error:
        print(smoke.render(error.checks), file=sys.stderr)
        return 1
    except GatewayError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
