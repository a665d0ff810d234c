"""Services: what runs where, at which size, with which secrets and permissions, and who may talk to whom."""

from __future__ import annotations

import fnmatch
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import parliament
import pytest
import yaml
from botocore.validate import ParamValidator

from catalog import MODEL_CATALOG, Model
from components import litellm_config
from components.container_image import content_tag
from offline.engine import ROOT_DIR, Graph, Resource, run
from offline.policy_check import evaluate, mandatory
from settings import LITELLM_WORKERS, PROJECT, TURNS_PER_VCPU_PER_SECOND, SettingsError, load_settings
from tests.stacks import TASK_DEFINITION, config_with, container, containers, env, run_with
from tools import users

SERVICE = "aws:ecs/service:Service"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SECRET_LOOKING = ("KEY", "PASSWORD", "SECRET", "TOKEN", "CREDENTIAL")


@cache
def register_task_definition_shape() -> Any:
    model = botocore.session.get_session().get_service_model("ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape


def service(graph: Graph, key: str) -> Resource:
    return graph.one(SERVICE, f"-{key}-service")


def statements(graph: Graph, policy_suffix: str) -> list[dict[str, Any]]:
    return json.loads(graph.one("aws:iam/rolePolicy:RolePolicy", policy_suffix).inputs["policy"])["Statement"]


# --- container definitions against AWS's own API model -----------------------------------------------------

def test_every_task_definition_is_valid_for_the_ecs_api(stack: Graph) -> None:
    definitions = stack.of_type(TASK_DEFINITION)
    assert len(definitions) == 4, "three services and LiteLLM's migration task"
    for definition in definitions:
        inputs = definition.inputs
        request = {
            "family": inputs["family"], "containerDefinitions": json.loads(inputs["containerDefinitions"]),
            "cpu": inputs["cpu"], "memory": inputs["memory"], "networkMode": inputs["networkMode"],
            "requiresCompatibilities": inputs["requiresCompatibilities"],
            "runtimePlatform": inputs["runtimePlatform"],
            "executionRoleArn": inputs["executionRoleArn"], "taskRoleArn": inputs["taskRoleArn"],
        }
        report = ParamValidator().validate(request, register_task_definition_shape())
        assert not report.has_errors(), f"{definition.name}: {report.generate_report()}"


def test_the_ecs_api_model_catches_a_wrong_key() -> None:
    bad = {"family": "x", "containerDefinitions": [{"name": "x", "image": "x", "portMapping": []}]}
    assert ParamValidator().validate(bad, register_task_definition_shape()).has_errors()


def test_logs_go_to_each_services_own_group(stack: Graph) -> None:
    for key in ("litellm", "grafana", "victoriametrics"):
        options = container(stack, key)["logConfiguration"]
        group = stack.one("aws:cloudwatch/logGroup:LogGroup", f"{key}-logs")
        assert options["logDriver"] == "awslogs"
        assert options["options"]["awslogs-group"] == group.outputs["name"]
        assert group.inputs["retentionInDays"] == {"dev": 14, "prod": 90}[stack.stack]
        assert container(stack, key)["healthCheck"]["command"][0] == "CMD-SHELL"


# --- IAM ------------------------------------------------------------------------------------------------------

def iam_documents(graph: Graph) -> list[tuple[str, dict[str, Any]]]:
    documents = [(r.name, json.loads(r.inputs["policy"])) for r in graph.of_type("aws:iam/rolePolicy:RolePolicy")]
    documents += [(r.name, json.loads(r.inputs["assumeRolePolicy"])) for r in graph.of_type("aws:iam/role:Role")]
    return documents


def test_every_iam_document_parses_and_names_no_wildcard_action(stack: Graph) -> None:
    for name, document in iam_documents(stack):
        assert document["Version"] == "2012-10-17", name
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), f"{name}: {actions}"


def test_bedrock_is_granted_exactly_the_configured_models(dev: Graph) -> None:
    profiles, foundation, count = statements(dev, "litellm-task")
    expected = {f"arn:aws:bedrock:us-west-1:123456789012:inference-profile/us.{m.bedrock_id}"
                for m in MODEL_CATALOG.values()}
    assert set(profiles["Resource"]) == expected
    assert set(profiles["Action"]) == set(foundation["Action"]) == {
        "bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
    assert {r.rsplit("/", 1)[1] for r in foundation["Resource"]} == {m.bedrock_id for m in MODEL_CATALOG.values()}
    assert all(r.startswith("arn:aws:bedrock:us-") for r in foundation["Resource"])
    assert set(foundation["Condition"]["ArnEquals"]["bedrock:InferenceProfileArn"]) == expected
    assert count["Action"] == ["bedrock:CountTokens"]
    assert {r.rsplit("/", 1)[1] for r in count["Resource"]} == {m.bedrock_id for m in MODEL_CATALOG.values()}
    assert all(r.startswith("arn:aws:bedrock:us-west-1::foundation-model/") for r in count["Resource"])


def test_fewer_models_mean_fewer_grants() -> None:
    graph = run_with("dev", models=["claude-haiku-4-5"], budgets={}, bedrock={"region": "us-west-2"})
    profiles, foundation, count = statements(graph, "litellm-task")
    assert count["Resource"] == ["arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"]
    assert profiles["Resource"] == [
        "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"]
    assert all("haiku" in r for r in foundation["Resource"])
    assert env(container(graph, "litellm"))["AWS_REGION_NAME"] == "us-west-2"


def test_only_the_litellm_task_may_call_bedrock(stack: Graph) -> None:
    for name, document in iam_documents(stack):
        if any(a.startswith("bedrock:") for s in document["Statement"] for a in s["Action"]):
            assert name.endswith("litellm-task"), name


# Parliament does not know Bedrock's `inference-profile` resource type and misreads ARNs that end in `:0`
# (every Bedrock model version): its RESOURCE_MISMATCH on Bedrock actions is a false alarm, filtered alone.
# An ECS execution role must call ecr:GetAuthorizationToken to pull images: that CREDENTIALS_EXPOSURE is the
# purpose of the role, so it is accepted on execution roles only. Its IAM database predates Bedrock's
# CountTokens action (2025), so UNKNOWN_ACTION for exactly that action is accepted too.
def _accepted(name: str, finding: Any) -> bool:
    if finding.issue == "UNKNOWN_ACTION":
        return str(finding.detail) == "Unknown action bedrock:CountTokens"
    if finding.issue == "RESOURCE_MISMATCH":
        return all(d["action"].startswith("bedrock:") for d in finding.detail)
    return finding.issue == "CREDENTIALS_EXPOSURE" and name.endswith("-execution")


def test_parliament_finds_nothing_but_its_known_false_alarms(stack: Graph) -> None:
    for resource in stack.of_type("aws:iam/rolePolicy:RolePolicy"):
        policy = parliament.analyze_policy_string(resource.inputs["policy"], include_community_auditors=True)
        real = [f"{f.issue}: {f.detail}" for f in policy.findings if not _accepted(resource.name, f)]
        assert not real, f"{resource.name}: {real}"


def test_parliament_and_its_false_alarm_filter_would_catch_a_widened_policy(dev: Graph) -> None:
    """The negative control: LiteLLM's execution policy with every statement on `*` and a PassRole added is reported,
    and `_accepted` lets those findings through. (Not `Action: *`: parliament expands it into every IAM action,
    seconds of CPU for the same proof.)"""
    resource = dev.one("aws:iam/rolePolicy:RolePolicy", "litellm-execution")
    document = json.loads(resource.inputs["policy"])
    for statement in document["Statement"]:
        statement["Resource"] = "*"
    document["Statement"].append({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})
    policy = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True)
    assert {"RESOURCE_STAR", "PERMISSIONS_MANAGEMENT_ACTIONS"} <= {
        f.issue for f in policy.findings if not _accepted(resource.name, f)}


# --- secrets --------------------------------------------------------------------------------------------------

def test_litellm_secrets_arrive_as_ecs_secrets_never_as_plain_environment(stack: Graph) -> None:
    definition = container(stack, "litellm")
    secrets = {s["name"]: s["valueFrom"] for s in definition["secrets"]}
    arns = {k: stack.one("aws:secretsmanager/secret:Secret", k).outputs["arn"]
            for k in ("litellm-master-key", "litellm-salt-key")}
    rds_secret = stack.one("aws:secretsmanager/secret:Secret", "database-password").outputs["arn"]
    cache = {"REDIS_PASSWORD": stack.one("aws:secretsmanager/secret:Secret", "cache-auth-token").outputs["arn"]} \
        if shared_cache_flows(stack) else {}
    assert secrets == {"LITELLM_MASTER_KEY": arns["litellm-master-key"], "LITELLM_SALT_KEY": arns["litellm-salt-key"],
                       "DATABASE_PASSWORD": rds_secret, **cache}
    (reader,) = [s for s in statements(stack, "litellm-execution") if s["Sid"] == "Secrets"]
    assert reader["Action"] == ["secretsmanager:GetSecretValue"]
    assert sorted(reader["Resource"]) == sorted([*arns.values(), rds_secret, *cache.values()])


def test_no_secret_looking_name_in_any_plain_environment(stack: Graph) -> None:
    for definition in stack.of_type(TASK_DEFINITION):
        for item in json.loads(definition.inputs["containerDefinitions"]):
            for name, value in env(item).items():
                if any(word in name for word in SECRET_LOOKING):
                    assert value in ("true", "false", "True"), f"{definition.name}: {name} in plain environment"


def test_generated_keys_have_the_right_shape_and_the_salt_never_changes(stack: Graph) -> None:
    master = stack.one("aws:secretsmanager/secretVersion:SecretVersion", "litellm-master-key")
    assert master.inputs["secretString"].startswith("sk-")
    for kind in ("random:index/randomPassword:RandomPassword", "aws:secretsmanager/secretVersion:SecretVersion"):
        assert stack.one(kind, "litellm-salt-key").options["ignoreChanges"] == ["*"], "never rotated"


def test_the_salt_key_blocks_destroy_only_where_deletion_protection_is_on(dev: Graph, prod: Graph) -> None:
    """Pulumi.dev.yaml promises that nothing in dev is protected, so `pulumi destroy -s dev` must go through."""
    for graph, protected in ((dev, False), (prod, True)):
        for kind in ("random:index/randomPassword:RandomPassword", "aws:secretsmanager/secret:Secret",
                     "aws:secretsmanager/secretVersion:SecretVersion"):
            assert graph.one(kind, "litellm-salt-key").protect is protected
    assert not [r.name for r in dev.resources if r.protect]


# --- database -------------------------------------------------------------------------------------------------

def test_database_password_is_the_one_litellm_reads_and_nothing_rotates_it(stack: Graph) -> None:
    """RDS's managed password rotates every 7 days by default; ECS injects DATABASE_PASSWORD only at task start and
    LiteLLM builds its URL once, so a managed password would lock LiteLLM out a week after each deploy."""
    db = stack.one("aws:rds/instance:Instance")
    assert not db.inputs.get("manageMasterUserPassword"), "RDS would rotate the password under running tasks"
    assert "password" in db.secret_inputs
    stored = stack.one("aws:secretsmanager/secretVersion:SecretVersion", "database-password").inputs["secretString"]
    assert db.inputs["password"] == stored
    assert not stack.of_type("aws:secretsmanager/secretRotation:SecretRotation")
    assert 8 <= len(stored) <= 128 and not set(stored) & set('/"@ '), "RDS's password rules"
    generated = stack.one("random:index/randomPassword:RandomPassword", "database-password")
    assert generated.options["ignoreChanges"] == ["*"], "a new value would reach RDS at once, the tasks only later"


def test_database_is_private_encrypted_and_backed_up(dev: Graph, prod: Graph) -> None:
    for graph, days, protected in ((dev, 1, False), (prod, 14, True)):
        db = graph.one("aws:rds/instance:Instance")
        assert db.inputs["engine"] == "postgres" and db.inputs["storageEncrypted"] is True
        assert db.inputs["publiclyAccessible"] is False
        assert db.inputs["backupRetentionPeriod"] == days
        assert db.inputs["deletionProtection"] is protected and db.protect is protected
        assert db.inputs["skipFinalSnapshot"] is (not protected), "Pulumi.dev.yaml sets finalSnapshot: false"
        assert db.inputs["finalSnapshotIdentifier"], "always named, so switching the snapshot on finds a name"
    assert dev.one("aws:rds/instance:Instance").inputs["instanceClass"] == "db.t4g.micro"
    assert prod.one("aws:rds/instance:Instance").inputs["multiAz"] is True


def test_a_replaced_database_leaves_a_final_snapshot_of_its_own(prod: Graph) -> None:
    """DeleteDBInstance fails with DBSnapshotAlreadyExists when the final snapshot's name is taken, as it would be
    by the snapshot a previous replacement left: the name carries the creation time, fixed per instance."""
    db = prod.one("aws:rds/instance:Instance")
    assert re.fullmatch(r"llm-gateway-prod-gw-db-final-\d{14}",
                        db.inputs["finalSnapshotIdentifier"])
    assert db.options["ignoreChanges"] == ["finalSnapshotIdentifier"], "an update never renames it"


def test_cloud_map_services_can_be_destroyed_with_instances_left(stack: Graph) -> None:
    for discovery in stack.of_type("aws:servicediscovery/service:Service"):
        assert discovery.inputs["forceDestroy"] is True


def test_litellm_finds_its_database(stack: Graph) -> None:
    variables = env(container(stack, "litellm"))
    db = stack.one("aws:rds/instance:Instance")
    assert variables["DATABASE_HOST"] == f"{db.outputs['address']}:5432"
    assert variables["DATABASE_NAME"] == db.inputs["dbName"] and variables["DATABASE_USERNAME"] == db.inputs["username"]


# --- the migration race (BerriAI/litellm#14400) -----------------------------------------------------------------

def test_replicas_never_migrate_and_one_task_migrates_before_each_rollout(stack: Graph) -> None:
    assert env(container(stack, "litellm"))["DISABLE_SCHEMA_UPDATE"] == "true"
    (migration,) = containers(stack, "-litellm-pre-deploy")
    assert migration["entryPoint"] == ["python", "-m", "litellm.proxy.prisma_migration"]
    assert env(migration)["DISABLE_SCHEMA_UPDATE"] == "false"
    assert migration["image"] == container(stack, "litellm")["image"]
    run = stack.one("command:local:Command", "litellm-pre-deploy-run")
    definition = stack.one(TASK_DEFINITION, "litellm-pre-deploy")
    assert run.inputs["triggers"] == [definition.outputs["arn"]]
    assert run.inputs["environment"]["TASK_DEFINITION"] == definition.outputs["arn"]
    assert run.inputs["create"].endswith("scripts/run-ecs-task.sh")
    assert run.urn in service(stack, "litellm").dependencies


# --- VictoriaMetrics and its volume ---------------------------------------------------------------------------

def test_victoriametrics_is_a_single_writer_on_encrypted_efs(stack: Graph) -> None:
    vm = service(stack, "victoriametrics")
    assert vm.inputs["desiredCount"] == 1
    assert (vm.inputs["deploymentMinimumHealthyPercent"], vm.inputs["deploymentMaximumPercent"]) == (0, 100)
    assert stack.one("aws:efs/fileSystem:FileSystem").inputs["encrypted"] is True
    access = stack.one("aws:efs/accessPoint:AccessPoint")
    assert access.inputs["posixUser"] == {"uid": 1000, "gid": 1000}
    private = [r for r in stack.of_type("aws:ec2/subnet:Subnet") if r.inputs["tags"]["Tier"] == "private"]
    mounts = stack.of_type("aws:efs/mountTarget:MountTarget")
    assert sorted(m.inputs["subnetId"] for m in mounts) == sorted(stack.id_of(s) for s in private)
    (volume,) = stack.one(TASK_DEFINITION, "victoriametrics-task").inputs["volumes"]
    assert volume["efsVolumeConfiguration"]["transitEncryption"] == "ENABLED"
    assert volume["efsVolumeConfiguration"]["authorizationConfig"]["accessPointId"] == stack.id_of(access)


def test_victoriametrics_keeps_the_stack_retention_and_scrapes_litellm_by_name(dev: Graph, prod: Graph) -> None:
    for graph, retention in ((dev, "30d"), (prod, "395d")):
        definition = container(graph, "victoriametrics")
        assert f"-retentionPeriod={retention}" in definition["command"]
        assert env(definition)["LITELLM_HOST"] == f"litellm.{graph.stack}.llm-gateway.internal"
        assert definition["secrets"] == [], "the scraper holds no key (the master key was its token before)"


# --- Grafana --------------------------------------------------------------------------------------------------

def test_grafana_is_served_under_grafana_with_a_generated_admin_password(stack: Graph) -> None:
    definition = container(stack, "grafana")
    variables = env(definition)
    assert variables["GF_SERVER_ROOT_URL"] == "https://d111111abcdef8.cloudfront.net/grafana/"
    assert variables["GF_SERVER_SERVE_FROM_SUB_PATH"] == "true"
    assert variables["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert variables["GF_SECURITY_COOKIE_SECURE"] == "true", "the session cookie only travels over HTTPS"
    assert variables["VICTORIAMETRICS_HOST"] == f"victoriametrics.{stack.stack}.llm-gateway.internal"
    password = stack.one("aws:secretsmanager/secret:Secret", "grafana-admin-password").outputs["arn"]
    assert definition["secrets"] == [{"name": "GF_SECURITY_ADMIN_PASSWORD", "valueFrom": password}]


# --- who may talk to whom -------------------------------------------------------------------------------------

def group_names(graph: Graph) -> dict[str, str]:
    names = {graph.id_of(g): g.name.removeprefix("gw-").removesuffix("-sg")
             for g in graph.of_type("aws:ec2/securityGroup:SecurityGroup")}
    return {k: {"net-nat": "nat", "net-nat-eni": "nat-eni"}.get(v, v) for k, v in names.items()}


def flows(graph: Graph) -> tuple[set[tuple[str, str, int]], set[tuple[str, str, int]]]:
    """(egress flows, ingress flows) as (from, to, port); outside the VPC is `internet` or a named source."""
    names = group_names(graph)

    def peer(rule: Resource) -> str:
        inputs = rule.inputs
        if inputs.get("referencedSecurityGroupId"):
            return names[inputs["referencedSecurityGroupId"]]
        if inputs.get("prefixListId"):
            return "cloudfront"
        return "internet" if inputs["cidrIpv4"] == "0.0.0.0/0" else "private-subnets"

    egress = {(names[r.inputs["securityGroupId"]], peer(r), r.inputs["fromPort"]) for r in graph.of_type(EGRESS)}
    # The NAT's primary interface sends replies back to the private subnets' ephemeral ports.
    egress = {(a, b, "replies" if (a, b) == ("nat", "private-subnets") else port) for a, b, port in egress}
    ingress = {(peer(r), names[r.inputs["securityGroupId"]], r.inputs["fromPort"]) for r in graph.of_type(INGRESS)}
    return egress, ingress


INSIDE = {("alb", "litellm", 4000), ("alb", "grafana", 3000), ("grafana", "victoriametrics", 8428),
          ("victoriametrics", "litellm", 4000), ("litellm", "postgres", 5432), ("victoriametrics", "efs", 2049),
          ("nat", "litellm", 4000), ("nat", "grafana", 3000)}


def shared_cache_flows(stack: Graph) -> set[tuple[str, str, int]]:
    """Prod (several LiteLLM tasks) shares Valkey among them, reached by LiteLLM alone; dev (one task) has none."""
    return {("litellm", "cache", 6379)} if stack.stack == "prod" else set()


def bedrock_endpoint_flows(stack: Graph) -> set[tuple[str, str, int]]:
    """Prod's model calls go to the Bedrock runtime endpoint (egress.bedrockEndpoint); dev's through the NAT."""
    return {("litellm", "bedrock-endpoint", 443)} if stack.stack == "prod" else set()


def test_who_may_talk_to_whom_is_exactly_the_design(stack: Graph) -> None:
    egress, ingress = flows(stack)
    inside = INSIDE | shared_cache_flows(stack) | bedrock_endpoint_flows(stack)
    assert egress == inside | {("litellm", "internet", 443), ("grafana", "internet", 443),
                               ("victoriametrics", "internet", 443), ("egress-probe", "internet", 443),
                               ("nat", "internet", 443), ("nat", "private-subnets", "replies")}
    listener_port = stack.one("aws:lb/listener:Listener").inputs["port"]
    assert ingress == inside | {("cloudfront", "alb", listener_port), ("private-subnets", "nat-eni", 443)}
    for rule in stack.of_type(EGRESS) + stack.of_type(INGRESS):
        single_port = rule.inputs["fromPort"] == rule.inputs["toPort"]
        replies = (rule.inputs["fromPort"], rule.inputs["toPort"]) == (1024, 65535)
        assert rule.inputs["ipProtocol"] == "tcp" and (single_port or replies), rule.name


def test_tasks_and_migrations_start_only_once_their_rules_exist(stack: Graph) -> None:
    rules = {r.urn for r in stack.of_type(EGRESS) + stack.of_type(INGRESS) if r.name.startswith("gw-")
             and not r.name.startswith("gw-net-")}
    assert len(rules) == 21 + 2 * len(shared_cache_flows(stack) | bedrock_endpoint_flows(stack))
    migration = stack.one("command:local:Command", "litellm-pre-deploy-run")
    assert rules <= set(migration.dependencies), "the migration task needs 5432 and 443 open"
    for key in ("litellm", "grafana", "victoriametrics"):
        assert rules <= set(service(stack, key).dependencies), key


def test_services_start_after_their_listener_rules_or_volume_mounts(stack: Graph) -> None:
    listener_rules = {r.urn for r in stack.of_type("aws:lb/listenerRule:ListenerRule")}
    mounts = {r.urn for r in stack.of_type("aws:efs/mountTarget:MountTarget")}
    for key in ("litellm", "grafana"):
        assert listener_rules <= set(service(stack, key).dependencies), "ECS rejects a target group with no rule"
    assert mounts <= set(service(stack, "victoriametrics").dependencies), "the task mounts the volume at start"


def test_database_and_volume_admit_only_their_one_client(stack: Graph) -> None:
    _, ingress = flows(stack)
    assert {f for f in ingress if f[1] == "postgres"} == {("litellm", "postgres", 5432)}
    assert {f for f in ingress if f[1] == "efs"} == {("victoriametrics", "efs", 2049)}


# --- sizes, capacity, scaling, exposure ----------------------------------------------------------------------

@pytest.mark.parametrize(("stack_name", "sizes"), [
    ("dev", {"litellm": ("512", "1024", "X86_64"), "grafana": ("256", "512", "X86_64"),
             "victoriametrics": ("256", "512", "X86_64")}),
    ("prod", {"litellm": ("1024", "2048", "X86_64"), "grafana": ("256", "512", "ARM64"),
              "victoriametrics": ("512", "1024", "ARM64")}),
])
def test_sizes_and_architectures_per_stack(stack_name: str, sizes: dict, request: pytest.FixtureRequest) -> None:
    graph: Graph = request.getfixturevalue(stack_name)
    for key, (cpu, memory, architecture) in sizes.items():
        definition = graph.one(TASK_DEFINITION, f"{key}-task").inputs
        assert (definition["cpu"], definition["memory"]) == (cpu, memory)
        assert definition["runtimePlatform"]["cpuArchitecture"] == architecture
        image = graph.one("docker:index/image:Image", f"{key}-image")
        assert image.inputs["build"]["platform"] == ("linux/arm64" if architecture == "ARM64" else "linux/amd64")


def test_spot_only_where_the_stack_says(dev: Graph, prod: Graph) -> None:
    def capacity(graph: Graph, key: str) -> str:
        return service(graph, key).inputs["capacityProviderStrategies"][0]["capacityProvider"]

    assert {k: capacity(dev, k) for k in ("litellm", "grafana", "victoriametrics")} == {
        "litellm": "FARGATE_SPOT", "grafana": "FARGATE_SPOT", "victoriametrics": "FARGATE_SPOT"}
    assert {capacity(prod, k) for k in ("litellm", "grafana", "victoriametrics")} == {"FARGATE"}
    for graph in (dev, prod):
        for key in ("litellm", "grafana", "victoriametrics"):
            strategy = service(graph, key).inputs["capacityProviderStrategies"]
            # ECS CreateService: tasks go only to providers with a weight; at least one must have one.
            assert any(s.get("weight", 0) > 0 for s in strategy), f"{graph.stack} {key}: no provider would get tasks"


def test_litellm_scales_on_cpu_and_requests_within_the_stack_bounds(dev: Graph, prod: Graph) -> None:
    assert not dev.of_type("aws:appautoscaling/target:Target"), "dev runs one task: nothing to scale"
    for graph, bounds in ((prod, (2, 6)), (run_with("dev", litellm={"cpu": 512, "memory": 1024, "maxCount": 3}),
                                           (1, 3))):
        (target,) = graph.of_type("aws:appautoscaling/target:Target")
        assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == bounds
        assert service(graph, "litellm").inputs["desiredCount"] == bounds[0]
        policies = {p.inputs["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"][
            "predefinedMetricType"]: p for p in graph.of_type("aws:appautoscaling/policy:Policy")}
        assert set(policies) == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
        requests = policies["ALBRequestCountPerTarget"].inputs["targetTrackingScalingPolicyConfiguration"]
        label = requests["predefinedMetricSpecification"]["resourceLabel"]
        assert label.startswith("app/") and "/targetgroup/" in label
        # Sized from the benchmark: measured turns per vCPU x the task's vCPUs x the CPU target's headroom.
        cpu = int(graph.one(TASK_DEFINITION, "-litellm-task").inputs["cpu"])
        cpu_target = policies["ECSServiceAverageCPUUtilization"].inputs["targetTrackingScalingPolicyConfiguration"][
            "targetValue"]
        vcpus = min(cpu / 1024, LITELLM_WORKERS)  # one uvicorn worker: one event loop, one core at most
        assert requests["targetValue"] == round(TURNS_PER_VCPU_PER_SECOND * 60 * vcpus * cpu_target / 100)


def test_the_sizing_assumes_as_many_workers_as_the_image_runs() -> None:
    """The request target counts at most one vCPU per uvicorn worker: one event loop uses one core."""
    (command,) = [line for line in (ROOT_DIR / "images" / "litellm" / "Dockerfile").read_text().splitlines()
                  if line.startswith("CMD ")]
    workers = json.loads(command.removeprefix("CMD "))
    assert int(workers[workers.index("--num_workers") + 1]) == LITELLM_WORKERS
    big = run_with("prod", litellm={"cpu": 2048, "memory": 4096, "desiredCount": 2, "maxCount": 6})
    target = next(p for p in big.of_type("aws:appautoscaling/policy:Policy") if "ALBRequest" in str(p.inputs))
    assert target.inputs["targetTrackingScalingPolicyConfiguration"]["targetValue"] == round(
        TURNS_PER_VCPU_PER_SECOND * 60 * LITELLM_WORKERS * 60 / 100), "2 vCPUs, one worker: one core's worth"


def test_tasks_run_privately_and_roll_back_failed_deploys(stack: Graph) -> None:
    private = {stack.id_of(s) for s in stack.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["Tier"] == "private"}
    for key in ("litellm", "grafana", "victoriametrics"):
        inputs = service(stack, key).inputs
        assert inputs["networkConfiguration"]["assignPublicIp"] is False
        assert set(inputs["networkConfiguration"]["subnets"]) == private
        assert inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
        assert inputs["enableExecuteCommand"] is False
        assert inputs["serviceRegistries"]["registryArn"]


def test_only_the_alb_fronted_services_get_a_target_group(stack: Graph) -> None:
    attached = {k: service(stack, k).inputs.get("loadBalancers") for k in ("litellm", "grafana", "victoriametrics")}
    assert [lb["containerPort"] for lb in attached["litellm"]] == [4000]
    assert [lb["containerPort"] for lb in attached["grafana"]] == [3000]
    assert not attached["victoriametrics"]
    assert service(stack, "litellm").inputs["healthCheckGracePeriodSeconds"] > 0


def test_exec_is_opt_in() -> None:
    graph = run_with("dev", execEnabled=True)
    assert service(graph, "litellm").inputs["enableExecuteCommand"] is True
    assert any(s["Sid"] == "EcsExec" for s in statements(graph, "litellm-task"))


def test_cluster_offers_fargate_and_spot_with_the_stacks_container_insights(stack: Graph) -> None:
    """Standard Container Insights by default (prod); dev turns it off (~$25 a month); enhanced is a setting."""
    cluster = stack.one("aws:ecs/cluster:Cluster")
    expected = {"dev": "disabled", "prod": "enabled"}[stack.stack]
    assert {"name": "containerInsights", "value": expected} in cluster.inputs["settings"]
    enhanced = run_with("dev", containerInsights="enhanced").one("aws:ecs/cluster:Cluster")
    assert {"name": "containerInsights", "value": "enhanced"} in enhanced.inputs["settings"]
    with pytest.raises(SettingsError, match=r"llm-gateway:containerInsights = 'off'.*'disabled', 'enabled' or "):
        run_with("dev", containerInsights="off")
    capacity = stack.one("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders")
    assert set(capacity.inputs["capacityProviders"]) == {"FARGATE", "FARGATE_SPOT"}


# --- images ---------------------------------------------------------------------------------------------------

def test_tasks_run_the_pushed_digest_from_a_scanned_repository(stack: Graph) -> None:
    for key in ("litellm", "grafana", "victoriametrics"):
        image = stack.one("docker:index/image:Image", f"{key}-image")
        assert container(stack, key)["image"] == image.outputs["repoDigest"]
        assert "@sha256:" in container(stack, key)["image"]
        assert image.inputs["buildOnPreview"] is False
        repo = stack.one("aws:ecr/repository:Repository", f"{key}-repo")
        # Content tags may be pushed again (pulumi-docker re-pushes on any input change); every other tag is fixed.
        assert repo.inputs["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
        excluded = [f["filter"] for f in repo.inputs["imageTagMutabilityExclusionFilters"]]
        assert excluded == ["*-amd64", "*-arm64"]
        assert fnmatch.fnmatch(image.inputs["imageName"].rsplit(":", 1)[1], excluded[0 if "amd64" in
                               image.inputs["build"]["platform"] else 1])
        assert not Path(image.inputs["build"]["context"]).is_absolute(), "another checkout path is no change"
        assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        rules = json.loads(stack.one("aws:ecr/lifecyclePolicy:LifecyclePolicy", f"{key}-lifecycle").inputs["policy"])
        assert rules["rules"]


def test_image_tags_follow_content() -> None:
    images = ROOT_DIR / "images"
    assert content_tag(images / "litellm", "linux/arm64") == content_tag(images / "litellm", "linux/arm64")
    assert content_tag(images / "litellm", "linux/arm64") != content_tag(images / "grafana", "linux/arm64")
    assert content_tag(images / "litellm", "linux/arm64").endswith("-arm64")


def test_outputs_give_the_caller_the_urls_and_the_secrets_to_log_in(dev: Graph) -> None:
    arns = {k: dev.one("aws:secretsmanager/secret:Secret", k).outputs["arn"]
            for k in ("litellm-master-key", "grafana-admin-password")}
    assert dev.outputs["litellmMasterKeySecretArn"] == arns["litellm-master-key"]
    assert dev.outputs["grafanaAdminPasswordSecretArn"] == arns["grafana-admin-password"]
    assert set(dev.outputs) == {"gatewayUrl", "grafanaUrl", "distributionId", "vpcId", "natEniId", "egressIp",
                                "natGroupName", "adminEndpoints", "alarmTopicArn",
                                "litellmMasterKeySecretArn", "grafanaAdminPasswordSecretArn",
                                # what the runbooks and the smoke test act on
                                "originUrl", "databaseIdentifier", "ecsCluster", "ecsServices", "logGroups"}
    db = dev.one("aws:rds/instance:Instance")
    assert dev.outputs["databaseIdentifier"] == db.outputs["identifier"]
    assert dev.outputs["ecsCluster"] == dev.one("aws:ecs/cluster:Cluster").outputs["name"]
    for key in ("litellm", "grafana", "victoriametrics"):
        assert dev.outputs["ecsServices"][key] == dev.one("aws:ecs/service:Service", f"-{key}-service").outputs["name"]
        assert dev.outputs["logGroups"][key] == dev.one("aws:cloudwatch/logGroup:LogGroup",
                                                        f"-{key}-logs").outputs["name"]


def test_a_new_catalogue_entry_flows_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a model is one catalogue entry plus the stack's `models`: it reaches LiteLLM's routes and aliases,
    its price where LiteLLM has none, the task role's grants, a tier's list and Claude Code's setup."""
    fictitious = Model(name="claude-test-9", bedrock_id="anthropic.claude-test-9-20270101-v1:0", input_usd_per_mtok=2,
                       output_usd_per_mtok=8, aliases=("claude-test",), priced_by_litellm=False,
                       profile_scope="global")
    monkeypatch.setitem(MODEL_CATALOG, fictitious.name, fictitious)
    models = ["claude-haiku-4-5", "claude-test-9"]
    tiers = {"test": {"maxBudgetUsd": 1, "models": ["claude-test-9"]}}
    graph = run("dev", config_with("dev", models=models, budgets=tiers))  # not `planned`: the catalogue is patched
    config = yaml.safe_load(litellm_config.render(models, shared_cache=False))
    (route,) = [r for r in config["model_list"] if r["model_name"] == "claude-test-9"]
    assert route["litellm_params"]["model"] == "bedrock/global.anthropic.claude-test-9-20270101-v1:0"
    assert route["model_info"] == {"input_cost_per_token": pytest.approx(2e-6), "output_cost_per_token": 8e-6,
                                   "cache_read_input_token_cost": pytest.approx(2e-7),
                                   "cache_creation_input_token_cost": pytest.approx(2.5e-6)}
    assert {a: t["model"] for a, t in config["router_settings"]["model_group_alias"].items()
            if t["model"] == "claude-test-9"} == {"claude-test-9-20270101": "claude-test-9",
                                                   "claude-test": "claude-test-9"}
    grants = json.dumps(statements(graph, "litellm-task"))
    assert "inference-profile/global.anthropic.claude-test-9-20270101-v1:0" in grants
    assert "arn:aws:bedrock:*::foundation-model/anthropic.claude-test-9" in grants, "a global profile routes anywhere"
    assert mandatory(evaluate(graph)) == [], "the policy pack accepts what the catalogue grants"
    assert "claude-sonnet-4-5" not in grants and "claude-sonnet" not in json.dumps(config["model_list"])
    settings = load_settings(PROJECT, "dev", config_with("dev", models=models, budgets={
        "test": {"maxBudgetUsd": 1, "models": ["claude-test-9"]}}))
    assert users.claude_code_setup(settings, "test", "https://gw", "k")["ANTHROPIC_MODEL"] == "claude-test-9"


def test_every_name_a_client_sends_means_one_model() -> None:
    names = [n for model in MODEL_CATALOG.values() for n in model.client_names]
    assert len(names) == len(set(names)), "a name shared by two models, or an alias equal to a model's name"
    undated = Model(name="claude-x", bedrock_id="anthropic.claude-x", input_usd_per_mtok=1, output_usd_per_mtok=1)
    assert undated.client_names == ("claude-x",), "an id without a date adds no alias hiding the model itself"


def test_interpreter_caches_never_change_an_image(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    before = content_tag(tmp_path, "linux/amd64")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "hook.cpython-311.pyc").write_bytes(b"\0")
    assert content_tag(tmp_path, "linux/amd64") == before
    assert "__pycache__" in (ROOT_DIR / "images" / "litellm" / ".dockerignore").read_text()


def test_the_request_targets_are_the_documented_measurement(prod: Graph) -> None:
    """The capacity constant is the benchmark's figure as docs/capacity.md reports it, and the targets it gives are
    the ones docs/settings.md promises (0.5 vCPU: 198, 1 vCPU: 396 requests a minute per task)."""
    capacity = (ROOT_DIR / "docs" / "capacity.md").read_text()
    assert f"capacity: {TURNS_PER_VCPU_PER_SECOND} long turns a second per vCPU" in capacity
    settings_doc = (ROOT_DIR / "docs" / "settings.md").read_text()
    half = run_with("prod", litellm={"cpu": 512, "memory": 1024, "desiredCount": 2, "maxCount": 4})
    for graph in (half, prod):
        target = next(p for p in graph.of_type("aws:appautoscaling/policy:Policy") if "ALBRequest" in str(p.inputs))
        vcpus = int(graph.one(TASK_DEFINITION, "-litellm-task").inputs["cpu"]) / 1024
        value = target.inputs["targetTrackingScalingPolicyConfiguration"]["targetValue"]
        assert f"{vcpus:g} vCPU: {value:g}" in settings_doc, (graph.stack, vcpus, value)


# Services that send aws:SourceAccount when they assume a role (IAM User Guide, "The confused deputy problem"; ECS
# and VPC Flow Logs document it). EC2 instance profiles and Lambda's execution role get no such key.
SENDS_SOURCE_ACCOUNT = ("ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com")


def test_roles_assumed_by_services_that_name_the_account_are_held_to_it(stack: Graph) -> None:
    account = stack.one("aws:rds/instance:Instance").outputs["arn"].split(":")[4]
    guarded = 0
    for role in stack.of_type("aws:iam/role:Role"):
        for statement in json.loads(role.inputs["assumeRolePolicy"])["Statement"]:
            if statement["Principal"].get("Service") in SENDS_SOURCE_ACCOUNT:
                assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}, role.name
                guarded += 1
    assert guarded >= 7


def test_victoriametrics_writes_its_volume_and_nothing_else_is_mounted(stack: Graph) -> None:
    (mount,) = container(stack, "victoriametrics")["mountPoints"]
    assert (mount["containerPath"], mount["readOnly"]) == ("/storage", False), "its data, written every second"
    assert all(not container(stack, key).get("mountPoints") for key in ("litellm", "grafana"))
