"""The deploy lifecycle tells the truth: a rollout that fails fails `pulumi up`, a slow migration is waited for
as long as LiteLLM itself may take, and nothing in dev blocks `pulumi destroy`."""

from __future__ import annotations

import re

import pytest
import yaml

from offline.engine import ROOT_DIR, Graph, run, stack_config
from tests.stacks import container

LITELLM_EXTRAS = next((ROOT_DIR / ".venv-litellm" / "lib").glob("python3*/site-packages/litellm_proxy_extras"))


def minutes(timeout: str) -> int:
    assert timeout.endswith("m"), timeout
    return int(timeout[:-1])


@pytest.mark.parametrize("service", ["litellm", "grafana", "victoriametrics"])
def test_pulumi_up_fails_when_a_service_does_not_reach_steady_state(stack: Graph, service: str) -> None:
    """terraform-provider-aws 6.x (under pulumi-aws 7) waits for the service deployment with wait_for_steady_state
    and reports ROLLBACK_SUCCESSFUL, the circuit breaker's rollback, as an error. The wait must outlast a failed
    rollout and its rollback: start, health-check grace and draining of the old tasks, twice."""
    resource = stack.one("aws:ecs/service:Service", f"-{service}-service")
    assert resource.inputs["waitForSteadyState"] is True
    assert resource.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    planned = container(stack, service)
    drain = max((g.inputs["deregistrationDelay"] for g in stack.of_type("aws:lb/targetGroup:TargetGroup")
                 if service in g.name), default=0)
    one_rollout = planned["healthCheck"]["startPeriod"] + resource.inputs.get("healthCheckGracePeriodSeconds",
                                                                                  0) + drain
    for phase in ("create", "update"):
        assert minutes(resource.options["customTimeouts"][phase]) * 60 > 2 * one_rollout + 20 * 60, \
            "pulumi-aws's 20-minute default plus a rollback"


def litellm_constant(module: str, name: str) -> float:
    """A constant from the installed LiteLLM release's migration code."""
    return float(re.search(rf"^{name}\s*=\s*([\d.]+)", (LITELLM_EXTRAS / module).read_text(), re.M).group(1))


def test_the_deploy_waits_as_long_as_litellms_migration_may_take(stack: Graph) -> None:
    """LiteLLM 1.108.7 tries `prisma migrate deploy` up to MAX_MIGRATE_DEPLOY_ATTEMPTS times for up to
    DEFAULT_PRISMA_MIGRATE_DEPLOY_TIMEOUT each, and waits up to 600 s for the migration lock
    (prisma_toolchain.migration_lock_timeout). `aws ecs wait tasks-stopped` gave up after 100 x 6 s."""
    attempts = litellm_constant("utils.py", "MAX_MIGRATE_DEPLOY_ATTEMPTS")
    per_attempt = litellm_constant("prisma_toolchain.py", "DEFAULT_PRISMA_MIGRATE_DEPLOY_TIMEOUT")
    lock = float(re.search(r"MIGRATION_LOCK_TIMEOUT_ENV_VAR, ([\d.]+)\)",
                           (LITELLM_EXTRAS / "prisma_toolchain.py").read_text()).group(1))
    migration = stack.one("command:local:Command", "litellm-pre-deploy-run")
    deadline = int(migration.inputs["environment"]["TIMEOUT_SECONDS"])
    assert deadline > attempts * per_attempt + lock
    assert minutes(migration.options["customTimeouts"]["create"]) * 60 > deadline, "the script stops it first"
    script = (ROOT_DIR / "scripts" / "run-ecs-task.sh").read_text()
    assert not re.search(r"^[^#]*aws ecs wait", script, re.M), "no CLI waiter with its own limit"


def test_dev_protects_nothing_so_destroy_goes_through(dev: Graph) -> None:
    assert [r.name for r in dev.resources if r.protect] == []
    assert all(r.inputs.get("forceDelete") for r in dev.of_type("aws:ecr/repository:Repository"))
    assert dev.one("aws:rds/instance:Instance").inputs["skipFinalSnapshot"] is True


def test_every_operation_reads_the_real_state_first() -> None:
    """After a failed update Pulumi's state holds the new task definition while ECS runs the old one; without a
    refresh the next `pulumi up` clears the error and rolls nothing (Pulumi's step generator makes an empty
    update for a resource with initialization errors)."""
    project = yaml.safe_load((ROOT_DIR / "Pulumi.yaml").read_text())
    assert project["options"]["refresh"] == "always"


def test_the_egress_probe_tries_once_per_beat_and_leaves_destroy_unblocked(stack: Graph) -> None:
    probe = stack.one("aws:lambda/function:Function")
    (config,) = stack.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    assert config.inputs["functionName"] == probe.outputs["name"] and config.inputs["maximumRetryAttempts"] == 0
    default_group = stack.id_of(stack.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"))
    assert probe.inputs["replaceSecurityGroupsOnDestroy"] is True
    assert probe.inputs["replacementSecurityGroupIds"] == [default_group]


def test_a_database_torn_down_after_protection_is_lifted_still_leaves_a_snapshot(prod: Graph) -> None:
    """Lifting deletionProtection (the documented way to destroy prod) must not also skip the final snapshot."""
    config = {**stack_config("prod"), "llm-gateway:deletionProtection": "false"}
    db = run("prod", config).one("aws:rds/instance:Instance")
    assert db.inputs["skipFinalSnapshot"] is False and db.inputs["finalSnapshotIdentifier"]


def test_a_deleted_secret_can_be_recovered_for_a_month_in_prod_and_a_week_in_dev(dev: Graph, prod: Graph) -> None:
    """Secrets Manager keeps a deleted secret restorable for its recovery window (7-30 days): a destroy or a
    replaced secret in prod can be undone for 30 days (the salt key among them: LiteLLM's stored credentials)."""
    for graph, days in ((dev, 7), (prod, 30)):
        windows = {s.inputs["recoveryWindowInDays"] for s in graph.of_type("aws:secretsmanager/secret:Secret")}
        assert windows == {days}, graph.stack
