"""The point-in-time restore as a command (tools.restore): its steps read from the planned state, the setting they
write planned through the real program, and what follows the restored instance.

Pulumi's semantics relied on (pulumi/pulumi pkg/resource/deploy): a resource no longer declared is deleted after
every create and update of the same `up` (step_generator.go GenerateDeletes); a protected one is refused, retained
or not (step.go DeleteStep.Apply); a retained one is dropped from the state and left running. terraform-provider-aws
(rds/instance.go): `restore_to_point_in_time` is ForceNew and never read back.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from typing import Any

import pytest
import yaml

from offline.engine import Graph, Resource, as_pulumi_config, stack_config, stack_settings
from settings import SettingsError
from tests.stacks import config_with, planned, settings_of
from tools import restore
from tools.cli import ToolError

INSTANCE = "aws:rds/instance:Instance"
TIME = "2026-11-27T09:30:00Z"
WINDOW = ("2026-11-20T03:00:00Z", "2026-12-02T18:55:00Z")


def instance(graph: Graph) -> Resource:
    (found,) = graph.of_type(INSTANCE)
    return found


def state_of(graph: Graph) -> dict[str, Any]:
    """`pulumi stack export`'s document for a deployed graph: what the engine records per resource."""
    return {"deployment": {"resources": [
        {"urn": r.urn, "type": r.type, "outputs": r.outputs, "protect": r.protect,
         "retainOnDelete": bool(r.options.get("retainOnDelete"))} for r in graph.resources]}}


class FakeClis:
    """The Pulumi and AWS CLIs for a deployed `graph`, answering what tools.restore asks."""

    def __init__(self, graph: Graph, state: dict[str, Any] | None = None) -> None:
        self.graph, self.state, self.asked, self.git_status = graph, state or state_of(graph), [], ""

    def __call__(self, argv: Sequence[str], needed_for: str) -> str:
        self.asked.append(list(argv))
        command = " ".join(argv[:3])
        if command == "pulumi stack output":
            return json.dumps(self.graph.outputs)
        if command == "pulumi stack export":
            return json.dumps(self.state, default=str)
        if command == "git status --porcelain":
            return self.git_status
        if command == "aws rds describe-db-instances":
            return WINDOW[1] + "\n"
        if command == "aws rds describe-db-instance-automated-backups":
            return WINDOW[0] + "\n"
        raise AssertionError(f"tools.restore asked {argv}")


def after_config_steps(graph: Graph, steps: list[restore.Step]) -> dict[str, str]:
    """The stack's config once the steps' `pulumi config set --path` ran, as Pulumi hands it to the program."""
    config = dict(stack_config(graph.stack))
    for step in steps:
        if step.argv[:4] == ("pulumi", "config", "set", "--path"):
            key, value = step.argv[4], step.argv[5]
            section, *path = key.split(".")
            tree = json.loads(config.get(section, "{}"))
            node = tree
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
            config[section] = json.dumps(tree)
    return config


def dependents(graph: Graph, urn: str) -> set[str]:
    return {r.name for r in graph.resources
            if urn in r.dependencies or any(urn in urns for urns in r.property_dependencies.values())}


def test_the_steps_restore_from_the_instance_the_stack_runs_on(stack: Graph) -> None:
    source = instance(stack)
    clis = FakeClis(stack)
    found, steps = restore.prepare(settings_of(stack), TIME, clis)
    assert (found.urn, found.identifier) == (source.urn, source.outputs["identifier"])
    commands = [shlex.join(step.argv) for step in steps]
    unprotect = shlex.join(["pulumi", "state", "unprotect", source.urn, "--yes", "-s", stack.stack])
    assert (unprotect in commands) == source.protect, "only a protected database needs its flag lifted"
    up = (f"pulumi up --yes --skip-preview -s {stack.stack} --policy-pack policies --policy-pack-config "
          f"policies/config.{stack.stack}.json")
    commit = shlex.join(["git", "commit", "--quiet", "-m", f"Restore {stack.stack}'s database to {TIME}", "--",
                         f"Pulumi.{stack.stack}.yaml"])
    assert commands[-3:] == [commit, up, up], "committed before the update; deployed as the README deploys"
    assert not [c for c in commands if "state delete" in c or "import" in c or "--new-db-instance-identifier" in c]


def test_the_setting_the_steps_write_plans_a_restored_instance_that_everything_follows(stack: Graph) -> None:
    source = instance(stack)
    _, steps = restore.prepare(settings_of(stack), TIME, FakeClis(stack))
    after = planned(stack.stack, after_config_steps(stack, steps))
    restored = instance(after)
    assert restored.urn != source.urn, "a new resource: the source leaves the program, not replaced in place"
    assert restored.inputs["restoreToPointInTime"] == {
        "sourceDbInstanceIdentifier": source.outputs["identifier"], "restoreTime": TIME}
    assert dependents(after, restored.urn) == dependents(stack, source.urn) != set(), \
        "the task definitions and alarms that read the source now read the restored instance"
    assert (restored.provider, restored.protect) == (source.provider, source.protect)
    assert restored.options["customTimeouts"] == {"create": "180m"}, "a long log replay outlasts the 40-min default"
    for kept in ("username", "dbName", "storageEncrypted", "engine", "engineVersion", "password"):
        assert restored.inputs.get(kept) == source.inputs.get(kept), f"{kept}: ForceNew or inherited from the source"


def test_a_protected_database_is_retained_when_released_and_every_instance_keeps_its_backups(stack: Graph) -> None:
    database = instance(stack)
    assert database.options["retainOnDelete"] == database.protect, \
        "released by a restore, prod's source keeps running (and its deletion protection)"
    assert database.inputs["deleteAutomatedBackups"] is False, "the old timeline stays restorable"


def test_a_restore_of_a_restore_is_another_instance_and_latest_is_allowed(dev: Graph) -> None:
    first = planned("dev", after_config_steps(dev, restore.plan_steps("dev", restore.Source(
        "urn:x", "gw-old", False, False), TIME)))
    second = planned("dev", after_config_steps(dev, restore.plan_steps("dev", restore.Source(
        "urn:y", instance(first).outputs["identifier"], False, False), "latest")))
    assert instance(second).urn not in (instance(first).urn, instance(dev).urn)
    assert instance(second).inputs["restoreToPointInTime"] == {
        "sourceDbInstanceIdentifier": instance(first).outputs["identifier"], "useLatestRestorableTime": True}


def test_a_moment_outside_the_backups_is_refused_before_anything_changes(dev: Graph) -> None:
    clis = FakeClis(dev)
    with pytest.raises(ToolError, match="outside the source's restorable window, 2026-11-20T03:00:00Z to 2026-12"):
        restore.prepare(settings_of(dev), "2026-11-01T00:00:00Z", clis)
    assert {" ".join(argv[:2]) for argv in clis.asked} <= {"pulumi stack", "git status", "aws rds"}, "only reads"
    with pytest.raises(ToolError, match="is in the future"):
        restore.prepare(settings_of(dev), "2099-01-01T00:00:00Z", clis)


@pytest.mark.parametrize(("stack_name", "field", "value", "says"), [
    ("prod", "retainOnDelete", False, "not yet retained on delete"),
    ("dev", "deleteAutomatedBackups", True, "deleted with its automated backups"),
    ("dev", "deleteAutomatedBackups", None, "deleted with its automated backups"),
], ids=["prod-not-retained", "dev-backups-deleted", "dev-backups-unrecorded"])
def test_a_source_the_state_would_lose_is_refused(stack_name: str, field: str, value: Any, says: str) -> None:
    """Pulumi deletes with what the state holds (step.go DeleteStep.Apply): a stack last deployed by an older
    program must record the safe settings with one `pulumi up` first."""
    graph = planned(stack_name)
    state = state_of(graph)
    for resource in state["deployment"]["resources"]:
        if resource["type"] == INSTANCE and field == "retainOnDelete":
            resource[field] = value
        elif resource["type"] == INSTANCE:
            resource["outputs"] = {**resource["outputs"], field: value}
    with pytest.raises(ToolError, match=f"{says}.*: run `pulumi up -s {stack_name}`"):
        restore.prepare(settings_of(graph), TIME, FakeClis(graph, state))


def test_an_uncommitted_stack_file_or_a_source_without_backups_yet_is_refused(dev: Graph) -> None:
    clis = FakeClis(dev)
    clis.git_status = " M Pulumi.dev.yaml\n"
    with pytest.raises(ToolError, match=r"Pulumi\.dev\.yaml has uncommitted changes"):
        restore.prepare(settings_of(dev), TIME, clis)
    with pytest.raises(ToolError, match="no restorable window yet"):
        restore.check_window("gw-db", TIME, "us-east-1", lambda argv, why: "None\n")


def test_the_restore_setting_is_validated_naming_it() -> None:
    for bad, says in ((("gw--db", TIME), "not an RDS instance identifier"),
                      (("gw-db-", TIME), "not an RDS instance identifier"),
                      (("1gw-db", TIME), "not an RDS instance identifier"),
                      (("g" * 64, TIME), "not an RDS instance identifier"),
                      (("gw-db", "2026-11-27 09:30"), "should match pattern")):
        config = config_with("dev", database={"restore": {"sourceIdentifier": bad[0], "time": bad[1]}})
        with pytest.raises(SettingsError, match=says) as error:
            stack_settings("dev", config)
        assert "database" in str(error.value) and "restore" in str(error.value)


def test_an_unquoted_time_in_the_stack_file_reads_as_pulumi_reads_it() -> None:
    """PyYAML makes `time: 2026-11-27T09:30:00Z` a datetime; Pulumi keeps the text. The offline tools follow Pulumi."""
    written = yaml.safe_load(f"llm-gateway:database:\n  restore:\n    sourceIdentifier: gw-db\n    time: {TIME}\n")
    config = {**stack_config("dev"), **as_pulumi_config(written)}
    assert stack_settings("dev", config).database.restore.time == TIME
