"""Restore a stack's database to a point in time, without editing Pulumi state by hand.

    python -m tools.restore --stack prod --time 2026-11-27T09:30:00Z           # prints the steps, changes nothing
    python -m tools.restore --stack prod --time 2026-11-27T09:30:00Z --yes     # runs them

The restore is a setting (`database.restore`, components/database.py): the program then declares a new instance,
restored by RDS from the current one, under a new logical name. One `pulumi up` creates it, runs LiteLLM's migrations
on it, rolls LiteLLM onto its address and only then lets the source go: deleted in a stack that does not protect its
database, released and left running (deletion-protected) in one that does, for you to delete once people's keys and
budgets check out. Nothing is renamed and no resource leaves the state while something depends on it, so
`refresh: always` and the explicit provider need no care. Data written after `--time` is not in the restored copy.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from offline.engine import ROOT_DIR, project_name, stack_settings
from settings import DatabaseRestore, Settings
from tools.automation import policy_options
from tools.cli import ToolError, command_output, run_tool, stack_outputs

INSTANCE_TYPE = "aws:rds/instance:Instance"
Output = Callable[[Sequence[str], str], str]


@dataclass(frozen=True)
class Source:
    """The database instance the stack runs on now, as its state holds it."""

    urn: str
    identifier: str
    protect: bool
    retain_on_delete: bool
    # What Pulumi deletes it with: the inputs in the state, not the program's.
    keeps_backups: bool = True


@dataclass(frozen=True)
class Step:
    argv: tuple[str, ...]
    why: str


def source_in_state(export: dict, identifier: str) -> Source:
    """The instance named `identifier` in `pulumi stack export`'s document."""
    for resource in export.get("deployment", {}).get("resources") or []:
        outputs = resource.get("outputs") or {}
        if resource.get("type") == INSTANCE_TYPE and outputs.get("identifier") == identifier:
            return Source(resource["urn"], identifier, bool(resource.get("protect")),
                          bool(resource.get("retainOnDelete")), outputs.get("deleteAutomatedBackups") is False)
    raise ToolError(f"no {INSTANCE_TYPE} with identifier {identifier} in the stack's state")


def _window_problem(time: str, earliest: str, latest: str) -> str | None:
    moment, first, last = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (time, earliest, latest))
    if first <= moment <= last:
        return None
    return f"--time {time} is outside the source's restorable window, {earliest} to {latest}"


def check_window(identifier: str, time: str, region: str, output: Output) -> None:
    """RDS restores between the oldest automated backup and LatestRestorableTime (about five minutes ago)."""
    if time == "latest":
        return

    def ask(*argv: str) -> str:
        return output(["aws", "rds", *argv, "--region", region, "--output", "text"],
                      "to read the database's restorable window").strip()
    latest = ask("describe-db-instances", "--db-instance-identifier", identifier,
                 "--query", "DBInstances[0].LatestRestorableTime")
    earliest = ask("describe-db-instance-automated-backups", "--db-instance-identifier", identifier,
                   "--query", "DBInstanceAutomatedBackups[?Status=='active'].RestoreWindow.EarliestTime | [0]")
    if "None" in (earliest, latest) or not earliest or not latest:
        raise ToolError(f"{identifier} has no restorable window yet (its first automated backup is still being "
                        "made); try again later")
    problem = _window_problem(time, earliest, latest)
    if problem:
        raise ToolError(problem)


def _not_yet_recorded(source: Source) -> str | None:
    """What the state must hold before the source may leave it: Pulumi deletes with the state's settings."""
    if source.protect and not source.retain_on_delete:
        return "is protected but not yet retained on delete"
    if not source.keeps_backups:
        return "would be deleted with its automated backups (deleteAutomatedBackups is not yet false in the state)"
    return None


def plan_steps(stack: str, source: Source, time: str) -> list[Step]:
    problem = _not_yet_recorded(source)
    if problem:
        raise ToolError(f"{source.urn} {problem}: run `pulumi up -s {stack}` with this version of the program "
                        "first, so that letting it go loses nothing")
    key, stack_file = f"{project_name()}:database.restore", f"Pulumi.{stack}.yaml"
    steps = []
    if source.protect:
        steps.append(Step(("pulumi", "state", "unprotect", source.urn, "--yes", "-s", stack),
                          "Pulumi refuses to delete a protected resource even when it would retain it; the instance "
                          "itself keeps RDS deletion protection and stays running outside the stack"))
    steps += [
        Step(("pulumi", "config", "set", "--path", f"{key}.sourceIdentifier", source.identifier, "-s", stack),
             "the instance to restore from"),
        Step(("pulumi", "config", "set", "--path", f"{key}.time", time, "-s", stack), "the moment to restore to"),
        Step(("git", "commit", "--quiet", "-m", f"Restore {stack}'s database to {time}", "--", stack_file),
             "the setting on the branch before the update: a deploy from a checkout without it would plan a new, "
             "empty database (push it and merge it before anyone else deploys)"),
        Step(_up(stack), "creates the restored instance, migrates it, rolls LiteLLM onto it, then " +
             ("releases the source (retained: it keeps running)" if source.protect else "deletes the source")),
        Step(_up(stack), "a check: settings RDS may not have applied while restoring are applied now (normally none)"),
    ]
    return steps


def _up(stack: str) -> tuple[str, ...]:
    """As tools.automation deploys: with the policy pack and the stack's pack config (paths from the repository)."""
    options = policy_options(stack)
    return ("pulumi", "up", "--yes", "--skip-preview", "-s", stack,
            *(arg for pack in options["policy_packs"] for arg in ("--policy-pack", os.path.relpath(pack, ROOT_DIR))),
            *(arg for config in options["policy_pack_configs"]
              for arg in ("--policy-pack-config", os.path.relpath(config, ROOT_DIR))))


def afterwards(source: Source, region: str) -> str:
    if not source.protect:
        return (f"The source {source.identifier} is deleted; its automated backups stay for the retention period "
                "(restorable with `aws rds restore-db-instance-to-point-in-time --source-dbi-resource-id`).")
    return "\n".join([
        f"The source {source.identifier} still runs, outside the stack, deletion-protected. Once people's keys and",
        "budgets check out (python -m tools.users --stack <stack> list), delete it with a final snapshot:",
        f"  aws rds modify-db-instance --region {region} --db-instance-identifier {source.identifier} "
        "--no-deletion-protection --apply-immediately",
        f"  aws rds delete-db-instance --region {region} --db-instance-identifier {source.identifier} "
        f"--final-db-snapshot-identifier {source.identifier}-before-restore --no-delete-automated-backups",
        "Until then it sits in the stack's subnet group and security group: a change that replaces either waits.",
    ])


def render(steps: Sequence[Step]) -> str:
    return "\n".join(f"{n}. {shlex.join(step.argv)}\n   # {step.why}" for n, step in enumerate(steps, 1))


def _valid_time(time: str) -> None:
    """The program's own validation of the setting this writes."""
    try:
        DatabaseRestore(source_identifier="source", time=time)
    except ValidationError as error:
        raise ToolError(f"--time {time}: {error.errors()[0]['msg']} (UTC as 2026-11-27T09:30:00Z, or latest)") from None


def prepare(settings: Settings, time: str, output: Output = command_output) -> tuple[Source, list[Step]]:
    """Everything checked before anything changes: the setting it will write, the window, the state."""
    _valid_time(time)
    identifier = stack_outputs(settings.stack, output=output)["databaseIdentifier"]
    if settings.database.restore and settings.database.restore.source_identifier == identifier:
        raise ToolError(f"database.restore in Pulumi.{settings.stack}.yaml already restores from {identifier}; "
                        "deploy it (pulumi up) or remove it from the file first")
    stack_file = f"Pulumi.{settings.stack}.yaml"
    if output(["git", "status", "--porcelain", "--", stack_file], "to see that the stack file is committed").strip():
        raise ToolError(f"{stack_file} has uncommitted changes; commit or drop them first (the restore commits its "
                        "setting on its own)")
    check_window(identifier, time, settings.region, output)
    export = json.loads(output(["pulumi", "stack", "export", "-s", settings.stack], "to read the stack's state"))
    source = source_in_state(export, identifier)
    return source, plan_steps(settings.stack, source, time)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--time", required=True, help="UTC, e.g. 2026-11-27T09:30:00Z, or `latest`")
    parser.add_argument("--yes", action="store_true", help="run the steps (default: print them)")
    options = parser.parse_args(argv)
    settings = stack_settings(options.stack)
    source, steps = prepare(settings, options.time)
    print(render(steps))
    if not options.yes:
        print("\n(nothing changed: add --yes to run these steps)")
        return 0
    for step in steps:
        print(f"\n$ {shlex.join(step.argv)}", flush=True)
        if subprocess.run(step.argv, check=False).returncode != 0:
            raise ToolError(f"`{' '.join(step.argv[:4])} ...` failed; fix the cause and run the remaining steps "
                            "by hand, in order (the tool printed them above)")
    print("\n" + afterwards(source, settings.region))
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
