"""The policy pack: each policy passes good props and fails bad ones (as the engine hands them over, camelCase),
survives unknown values, and over the program's own graph finds nothing mandatory, yet catches every probe."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import policy_sentry
import pulumi_aws
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from offline.engine import ROOT_DIR, Graph, Resource
from offline.policy_check import PolicyConfigError, evaluate, mandatory, stack_policy_config
from tests.policy_probes import PROFILE
from tests.stacks import plan_command, planned

from aws_tags import is_taggable, receives_default_tags, sdk_module
from bedrock_actions import BEDROCK_ACTIONS
from pack_policies import ALL_POLICIES

POLICIES = {p.name: p for p in ALL_POLICIES}
TAGS = {"Project": "llm-gateway", "Environment": "dev", "Owner": "platform", "CostCenter": "42", "ManagedBy": "pulumi"}
PROVIDER = PolicyProviderResource("pulumi:providers:aws", {"region": "us-west-1", "defaultTags": json.dumps(
    {"tags": TAGS})}, "urn:provider", "aws")
OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
NOT_APPLICABLE = ["not applicable"]


def check(policy: str, resource_type: str, props: dict[str, Any], provider: PolicyProviderResource | None = PROVIDER,
          config: dict[str, Any] | None = None) -> list[str]:
    """Messages the policy reports for one resource, given as the engine gives it (an unknown-checking proxy)."""
    messages: list[str] = []
    args = ResourceValidationArgs(resource_type, unknown_checking_proxy(props), f"urn:{resource_type}", "probe",
                                  OPTIONS, provider, config or {})
    try:
        POLICIES[policy].validate(args, lambda message, urn=None: messages.append(message))
    except _NotApplicableError:
        return NOT_APPLICABLE
    return messages


def policy_resource(urn: str, resource_type: str, props: dict[str, Any],
                    depends: dict[str, list[PolicyResource]] | None = None) -> PolicyResource:
    return PolicyResource(resource_type, props, urn, urn, OPTIONS, PROVIDER, None, [], depends or {})


def check_stack(policy: str, resources: list[PolicyResource]) -> list[str]:
    messages: list[str] = []
    schema = POLICIES[policy].config_schema
    config = {k: v["default"] for k, v in schema.properties.items() if "default" in v} if schema else {}
    POLICIES[policy].validate(StackValidationArgs(resources, config), lambda m, urn=None: messages.append(m))
    return messages


def test_every_policy_is_described_with_remediation_and_severity() -> None:
    assert len(POLICIES) == len(ALL_POLICIES), "policy names are unique"
    for policy in ALL_POLICIES:
        assert policy.name and policy.description and policy.remediation_steps and policy.severity
        assert policy.enforcement_level is not None


# --- tagging ---------------------------------------------------------------------------------------------------

def test_tags_from_the_provider_count() -> None:
    assert check("required-tags", "aws:s3/bucket:Bucket", {}) == []


def test_an_untagged_bucket_without_provider_tags_fails() -> None:
    (message,) = check("required-tags", "aws:s3/bucket:Bucket", {"bucket": "x"}, provider=None)
    assert "Project" in message and "ManagedBy" in message


def test_an_empty_tag_value_fails_and_required_keys_come_from_config() -> None:
    assert check("required-tags", "aws:s3/bucket:Bucket", {"tags": {"Owner": " "}})
    assert check("required-tags", "aws:s3/bucket:Bucket", {"tags": TAGS}, provider=None,
                 config={"requiredTags": ["Team"]}) == ["aws:s3/bucket:Bucket 'probe' lacks the tags ['Team'] "
                                                        "(its own tags and the provider's defaultTags together)"]


def sdk_resource_modules() -> dict[str, str]:
    """Every AWS resource type token in the installed pulumi-aws SDK (its @pulumi.type_token classes, outside the
    _inputs/_outputs type modules) -> the Python module that defines it."""
    sdk = Path(pulumi_aws.__file__).parent
    found = subprocess.run(["grep", "-ro", "--include=*.py", '@pulumi.type_token("aws:[^"]*")', str(sdk)],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    modules = {}
    for line in found:
        path, _, decorator = line.partition(":@pulumi.type_token(")
        relative = Path(path).relative_to(sdk.parent)
        if not relative.name.startswith("_"):
            modules[decorator.strip('")')] = ".".join(relative.parent.parts)
    return modules


def test_every_resource_type_of_the_sdk_is_looked_up_where_the_sdk_defines_it() -> None:
    """The tagging policy finds a type's class (and so whether it takes tags) in the module pulumi-aws puts it in:
    checked for every one of the SDK's resource types, so no service is skipped by a naming rule."""
    modules = sdk_resource_modules()
    assert len(modules) > 1500 and "aws:lambda/function:Function" in modules
    wrong = {token: (module, sdk_module(token)) for token, module in modules.items() if sdk_module(token) != module}
    assert not wrong, wrong
    assert is_taggable("aws:lambda/function:Function") and receives_default_tags("aws:lambda/function:Function")


def test_untaggable_types_are_left_alone() -> None:
    assert check("required-tags", "aws:iam/rolePolicy:RolePolicy", {"policy": "{}"}, provider=None) == []


def test_an_autoscaling_group_needs_its_own_tag_list() -> None:
    assert check("required-tags", "aws:autoscaling/group:Group", {"tags": []})
    listed = [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in TAGS.items()]
    assert check("required-tags", "aws:autoscaling/group:Group", {"tags": listed}, provider=None) == []


def test_remediation_adds_configured_tags_where_missing() -> None:
    remediate = POLICIES["add-missing-tags"].remediate
    args = ResourceValidationArgs("aws:s3/bucket:Bucket", {"tags": {"Owner": "me"}}, "urn", "b", OPTIONS, None,
                                  {"tags": {"Owner": "platform", "CostCenter": "42"}})
    assert remediate(args)["tags"] == {"Owner": "me", "CostCenter": "42"}
    group = ResourceValidationArgs("aws:autoscaling/group:Group", {"tags": []}, "urn", "g", OPTIONS, None,
                                   {"tags": {"CostCenter": "42"}})
    assert remediate(group)["tags"] == [{"key": "CostCenter", "value": "42", "propagateAtLaunch": True}]
    complete = ResourceValidationArgs("aws:s3/bucket:Bucket", {}, "urn", "b", OPTIONS, PROVIDER,
                                      {"tags": {"Owner": "x"}})
    assert remediate(complete) is None


# --- egress ------------------------------------------------------------------------------------------------------

EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


def test_https_out_to_anywhere_passes() -> None:
    assert check("egress-https-only", EGRESS_RULE,
                 {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"}) == []


@pytest.mark.parametrize("rule", [
    {"ipProtocol": "-1", "fromPort": 0, "toPort": 0, "cidrIpv4": "0.0.0.0/0"},
    {"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "cidrIpv4": "0.0.0.0/0"},
    {"ipProtocol": "tcp", "fromPort": 0, "toPort": 65535, "cidrIpv6": "::/0"},
    {"ipProtocol": "udp", "fromPort": 53, "toPort": 53, "cidrIpv4": "8.8.8.8/32"},
])
def test_anything_else_out_fails(rule: dict[str, Any]) -> None:
    assert check("egress-https-only", EGRESS_RULE, rule)


def test_other_ports_only_to_groups_or_private_ranges() -> None:
    assert check("egress-https-only", EGRESS_RULE, {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432,
                                                    "referencedSecurityGroupId": "sg-1"}) == []
    assert check("egress-https-only", EGRESS_RULE, {"ipProtocol": "tcp", "fromPort": 4000, "toPort": 4000,
                                                    "cidrIpv4": "10.10.128.0/20"}) == []


def test_an_inline_all_traffic_egress_group_fails() -> None:
    assert check("egress-https-only", "aws:ec2/securityGroup:SecurityGroup", {"egress": [
        {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]})


def test_unknown_values_make_a_check_not_applicable_instead_of_crashing() -> None:
    assert check("egress-https-only", EGRESS_RULE, {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                                                    "cidrIpv4": UNKNOWN_STRING_VALUE}) == NOT_APPLICABLE
    assert check("bedrock-invoke-only", "aws:iam/rolePolicy:RolePolicy",
                 {"policy": UNKNOWN_STRING_VALUE}) == NOT_APPLICABLE


def test_ecs_tasks_get_no_public_ip() -> None:
    service = "aws:ecs/service:Service"
    assert check("ecs-no-public-ip", service, {"networkConfiguration": {"assignPublicIp": False}}) == []
    assert check("ecs-no-public-ip", service, {"networkConfiguration": {"assignPublicIp": True}})


def role_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}




def test_bedrock_invoke_on_claude_passes() -> None:
    assert check("bedrock-invoke-only", "aws:iam/rolePolicy:RolePolicy", role_policy(
        {"Effect": "Allow", "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
         "Resource": [PROFILE, "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"]},
        {"Effect": "Allow", "Action": ["bedrock:CountTokens"],
         "Resource": ["arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"]},
    )) == []


@pytest.mark.parametrize("statement", [
    {"Effect": "Allow", "Action": "*", "Resource": "*"},
    {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::b"]},
    {"Effect": "Allow", "Action": ["bedrock:CreateModelCustomizationJob"], "Resource": [PROFILE]},
    {"Effect": "Allow", "Action": ["bedrock:InvokeModel"], "Resource": ["*"]},
    {"Effect": "Allow", "Action": ["bedrock:InvokeModel"],
     "Resource": ["arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-70b-instruct-v1:0"]},
])
def test_other_bedrock_use_or_wildcards_fail(statement: dict[str, Any]) -> None:
    assert check("bedrock-invoke-only", "aws:iam/rolePolicy:RolePolicy", role_policy(statement))


def private_network(route_to: str) -> list[PolicyResource]:
    subnet = policy_resource("subnet", "aws:ec2/subnet:Subnet", {"tags": {"Tier": "private"}})
    table = policy_resource("table", "aws:ec2/routeTable:RouteTable", {})
    igw = policy_resource("igw", "aws:ec2/internetGateway:InternetGateway", {})
    eni = policy_resource("eni", "aws:ec2/networkInterface:NetworkInterface", {"sourceDestCheck": False})
    association = policy_resource("assoc", "aws:ec2/routeTableAssociation:RouteTableAssociation", {},
                                  {"subnetId": [subnet], "routeTableId": [table]})
    target = {"gatewayId": [igw]} if route_to == "igw" else {"networkInterfaceId": [eni]}
    route = policy_resource("route", "aws:ec2/route:Route", {"destinationCidrBlock": "0.0.0.0/0"},
                            {"routeTableId": [table], **target})
    return [subnet, table, igw, eni, association, route]


def test_private_routes_through_the_nat_pass_and_through_the_igw_fail() -> None:
    assert check_stack("private-routes-avoid-igw", private_network("eni")) == []
    assert check_stack("private-routes-avoid-igw", private_network("igw"))


def nat_ingress(cidr: str) -> list[PolicyResource]:
    group = policy_resource("nat-sg", "aws:ec2/securityGroup:SecurityGroup", {})
    eni = policy_resource("eni", "aws:ec2/networkInterface:NetworkInterface", {"sourceDestCheck": False},
                          {"securityGroups": [group]})
    rule = policy_resource("rule", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                           {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": cidr},
                           {"securityGroupId": [group]})
    return [group, eni, rule]


def test_the_nat_group_admits_only_private_ranges() -> None:
    assert check_stack("nat-admits-private-only", nat_ingress("10.10.128.0/20")) == []
    assert check_stack("nat-admits-private-only", nat_ingress("0.0.0.0/0"))


# --- hardening ---------------------------------------------------------------------------------------------------

GOOD_AND_BAD = [
    ("rds-encrypted-private-backed-up", "aws:rds/instance:Instance",
     {"storageEncrypted": True, "publiclyAccessible": False, "backupRetentionPeriod": 7},
     {"storageEncrypted": True, "publiclyAccessible": True, "backupRetentionPeriod": 7}),
    ("rds-encrypted-private-backed-up", "aws:rds/instance:Instance",
     {"storageEncrypted": True, "backupRetentionPeriod": 1}, {"storageEncrypted": False, "backupRetentionPeriod": 0}),
    ("efs-encrypted", "aws:efs/fileSystem:FileSystem", {"encrypted": True}, {"encrypted": False}),
    ("cloudfront-https-viewers", "aws:cloudfront/distribution:Distribution",
     {"defaultCacheBehavior": {"viewerProtocolPolicy": "redirect-to-https"},
      "viewerCertificate": {"acmCertificateArn": "arn", "minimumProtocolVersion": "TLSv1.2_2021"}},
     {"defaultCacheBehavior": {"viewerProtocolPolicy": "allow-all"},
      "viewerCertificate": {"acmCertificateArn": "arn", "minimumProtocolVersion": "TLSv1"}}),
    ("ingress-not-open-to-world", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
     {"prefixListId": "pl-1", "fromPort": 80, "toPort": 80}, {"cidrIpv4": "0.0.0.0/0", "fromPort": 80, "toPort": 80}),
    ("log-group-retention", "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 30}, {}),
    ("ecr-scan-immutable", "aws:ecr/repository:Repository",
     {"imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": {"scanOnPush": True}},
     {"imageTagMutability": "MUTABLE"}),
    ("no-plain-secrets-in-env", "aws:ecs/taskDefinition:TaskDefinition",
     {"containerDefinitions": json.dumps([{"name": "a", "environment": [{"name": "DISABLE_X_KEY", "value": "true"}],
                                           "secrets": [{"name": "API_KEY", "valueFrom": "arn"}]}])},
     {"containerDefinitions": json.dumps([{"name": "a", "environment": [{"name": "API_KEY", "value": "sk-1"}]}])}),
    ("imdsv2-required", "aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": "required"}},
     {"metadataOptions": {"httpTokens": "optional"}}),
]


@pytest.mark.parametrize(("policy", "resource_type", "good", "bad"), GOOD_AND_BAD,
                         ids=[f"{g[0]}-{i}" for i, g in enumerate(GOOD_AND_BAD)])
def test_hardening_passes_good_props_and_fails_bad_ones(policy: str, resource_type: str, good: dict[str, Any],
                                                        bad: dict[str, Any]) -> None:
    assert check(policy, resource_type, good) == []
    assert check(policy, resource_type, bad)


# --- the program's own graph -----------------------------------------------------------------------------------

def test_dev_and_prod_have_no_mandatory_violation(stack: Graph) -> None:
    assert mandatory(evaluate(stack)) == []


def test_every_policy_is_mandatory_in_every_stack_unless_waived_with_a_reason(tmp_path: Any) -> None:
    """Dev may not run silently advisory: lowering a policy needs its name and a reason, which the plan prints."""
    levels = {p.name: p.enforcement_level.value for p in ALL_POLICIES}
    assert {n for n, level in levels.items() if level != "mandatory"} == {
        "add-missing-tags", "resource-coverage", "cloudfront-default-certificate"}
    assert stack_policy_config("dev") == {} and stack_policy_config("prod") == {}
    with pytest.raises(PolicyConfigError, match="lowers efs-encrypted to advisory without a reason"):
        evaluate(planned("dev"), {"efs-encrypted": "advisory"})
    waived = {"efs-encrypted": {"enforcementLevel": "advisory", "waiver": "scratch stack, no data"}}
    config = tmp_path / "policy.json"
    config.write_text(json.dumps(waived))
    printed = plan_command("dev", "--policy-config", str(config)).stdout
    assert "waived: efs-encrypted: scratch stack, no data" in printed


def probe(graph: Graph, name: str, resource_type: str, inputs: dict[str, Any], tagged: bool = True) -> Graph:
    provider = next(r for r in graph.resources if r.type == "pulumi:providers:aws" and r.name == "aws")
    added = Resource(urn=f"urn:pulumi:{graph.stack}::llm-gateway::{resource_type}::{name}", type=resource_type,
                     name=name, inputs=inputs, outputs={}, parent="", custom=True, protect=False,
                     provider=f"{provider.urn}::{provider.outputs['id']}" if tagged else "")
    return replace(graph, resources=[*graph.resources, added])


PROBES = [
    ("untagged-bucket", "aws:s3/bucket:Bucket", {"bucket": "probe"}, False, "required-tags"),
    ("all-traffic-egress", "aws:ec2/securityGroup:SecurityGroup",
     {"egress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]}, True,
     "egress-https-only"),
    ("public-service", "aws:ecs/service:Service", {"networkConfiguration": {"assignPublicIp": True}}, True,
     "ecs-no-public-ip"),
    ("star-policy", "aws:iam/rolePolicy:RolePolicy",
     {"policy": json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                                    "Resource": "*"}]})}, True,
     "bedrock-invoke-only"),
    ("public-db", "aws:rds/instance:Instance",
     {"storageEncrypted": True, "publiclyAccessible": True, "backupRetentionPeriod": 7}, True,
     "rds-encrypted-private-backed-up"),
]


@pytest.mark.parametrize("case", PROBES, ids=[p[0] for p in PROBES])
def test_every_probe_added_to_the_graph_is_caught(dev: Graph, prod: Graph, case: tuple) -> None:
    name, resource_type, inputs, tagged, caught_by = case
    for graph in (dev, prod):
        verdicts = evaluate(probe(graph, name, resource_type, inputs, tagged))
        caught = [v for v in verdicts if v.resource.endswith(f"::{name}")]
        assert {v.policy for v in caught} == {caught_by}, caught
    assert mandatory(evaluate(probe(prod, name, resource_type, inputs, tagged))), "prod blocks every probe"


# --- the pack as the Pulumi engine talks to it --------------------------------------------------------------

@pytest.fixture(scope="module")
def served_pack() -> Any:
    """policies/__main__.py started as Pulumi starts it: it prints its port and serves the Analyzer API."""
    process = subprocess.Popen([sys.executable, "__main__.py"], cwd=ROOT_DIR / "policies", stdout=subprocess.PIPE,
                               text=True)
    try:
        port = process.stdout.readline().strip()
        yield analyzer_pb2_grpc.AnalyzerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    finally:
        process.kill()
        process.wait()


def test_the_served_pack_lists_every_policy_with_its_level(served_pack: Any) -> None:
    info = served_pack.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
    assert info.name == "llm-gateway"
    assert [p.name for p in info.policies] == [p.name for p in ALL_POLICIES]


def analyze(pack: Any, resource_type: str, props: dict[str, Any], provider: bool) -> list[str]:
    properties = struct_pb2.Struct()
    properties.update(props)
    request = analyzer_pb2.AnalyzeRequest(type=resource_type, properties=properties, urn=f"urn:{resource_type}",
                                          name="probe")
    if provider:
        provider_props = struct_pb2.Struct()
        provider_props.update(PROVIDER.props)
        request.provider.CopyFrom(analyzer_pb2.AnalyzerProviderResource(
            type=PROVIDER.resource_type, properties=provider_props, urn=PROVIDER.urn, name=PROVIDER.name))
    return [d.policyName for d in pack.Analyze(request, timeout=10).diagnostics]


def test_the_served_pack_judges_resources_as_the_offline_runner_does(served_pack: Any) -> None:
    assert analyze(served_pack, "aws:s3/bucket:Bucket", {"bucket": "b"}, provider=True) == []
    assert analyze(served_pack, "aws:s3/bucket:Bucket", {"bucket": "b"}, provider=False) == ["required-tags"]
    rule = {"ipProtocol": "-1", "fromPort": 0, "toPort": 0, "cidrIpv4": "0.0.0.0/0"}
    assert analyze(served_pack, EGRESS_RULE, rule, provider=True) == ["egress-https-only"]


def test_the_bedrock_catalogue_is_aws_service_authorization_reference() -> None:
    """policies/bedrock_actions.py (what the pack judges against, without policy_sentry at run time) is exactly the
    `bedrock` prefix of the catalogue policy_sentry ships; a new policy_sentry pin shows what AWS added."""
    catalogue = json.loads((Path(policy_sentry.__file__).parent / "shared/data/iam-definition.json").read_text())
    assert sorted(BEDROCK_ACTIONS) == sorted(f"bedrock:{a}" for a in catalogue["bedrock"]["privileges"])
