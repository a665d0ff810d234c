"""Every name the program sets or lets Pulumi generate obeys AWS's documented rules, for a long stack name too.

Pulumi names a resource `<logical name>-<7 hex characters>` when the program does not (pulumi-aws
provider/autonaming.go: AutoName("name", 255, "-") unless overridden below; the SDK's NewUniqueName errors when the
result is longer than the maximum). AWS's rules come from its API reference, as botocore's service models carry
them (shape `pattern`/`min`/`max`, or the member's documentation where the model has no pattern).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from offline.engine import Graph, Resource, run
from tests.stacks import config_with

LONG_STACK = "platform-gateway-staging"  # 24 characters
RANDOM_SUFFIX = "0a1b2c3"


@dataclass(frozen=True)
class AutoName:
    """How pulumi-aws generates a name: property, maximum length, separator before the random suffix."""

    prop: str = "name"
    max_length: int = 255
    separator: str = "-"


# pulumi-aws resource overrides (provider/resources.go, aliases.go); everything else with a `name` gets the default.
AUTONAMING: dict[str, AutoName | None] = {
    "aws:lb/targetGroup:TargetGroup": AutoName(max_length=32),
    "aws:iam/role:Role": AutoName(max_length=64),
    "aws:sns/topic:Topic": AutoName(max_length=80),
    "aws:rds/instance:Instance": AutoName(prop="identifier", separator=""),
    "aws:efs/fileSystem:FileSystem": AutoName(prop="creationToken"),
    "aws:lambda/function:Function": AutoName(max_length=64),
    "aws:cloudfront/function:Function": AutoName(max_length=64),
    "aws:s3/bucket:Bucket": AutoName(prop="bucket", max_length=63),
    "aws:cloudwatch/eventRule:EventRule": AutoName(max_length=64),
    "aws:elasticache/replicationGroup:ReplicationGroup": AutoName(prop="replicationGroupId", max_length=40),
}


@dataclass(frozen=True)
class Rule:
    pattern: str
    source: str
    max_length: int = 255
    min_length: int = 1

    def problem(self, value: str) -> str | None:
        if not self.min_length <= len(value) <= self.max_length:
            return f"{len(value)} characters; allowed {self.min_length} to {self.max_length}"
        if not re.fullmatch(self.pattern, value):
            return f"does not match {self.pattern}"
        return None


ECS_NAME = Rule(r"[A-Za-z0-9_-]+", "ECS API: up to 255 letters, numbers, underscores and hyphens")
ELB_NAME = Rule(r"(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", "ELBv2 CreateLoadBalancer/CreateTargetGroup"
                ".Name: 32 alphanumerics or hyphens, no hyphen first or last, not internal-", max_length=32)
IAM_NAME = Rule(r"[\w+=,.@-]+", "IAM roleNameType/policyNameType/instanceProfileNameType", max_length=128)
DNS_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
RDS_IDENTIFIER = r"[a-z](?!.*--)[a-z0-9-]*(?<!-)"
RESOLVER_NAME = Rule(r"(?!^[0-9]+$)([a-zA-Z0-9\-_' ']+)", "Route53Resolver Name (CreateFirewallRule, "
                     "CreateFirewallDomainList, CreateFirewallRuleGroup, AssociateFirewallRuleGroup)", max_length=64)
WAF_NAME = Rule(r"[\w-]+", "WAFv2 EntityName", max_length=128)
WAF_METRIC = Rule(r"(?!All$|Default_Action$)[A-Za-z0-9_-]+", "WAFv2 VisibilityConfig.MetricName doc", max_length=128)

# Type -> property (dotted for nested) -> rule. A property absent from the inputs is the auto-generated name.
RULES: dict[str, dict[str, Rule]] = {
    "aws:ecs/taskDefinition:TaskDefinition": {"family": ECS_NAME},
    "aws:ecs/service:Service": {"name": ECS_NAME},
    "aws:ecs/cluster:Cluster": {"name": ECS_NAME},
    "aws:lb/loadBalancer:LoadBalancer": {"name": ELB_NAME},
    "aws:lb/targetGroup:TargetGroup": {"name": ELB_NAME},
    "aws:iam/role:Role": {"name": Rule(IAM_NAME.pattern, "IAM roleNameType", max_length=64)},
    "aws:iam/rolePolicy:RolePolicy": {"name": IAM_NAME},
    "aws:iam/instanceProfile:InstanceProfile": {"name": IAM_NAME},
    "aws:cloudwatch/logGroup:LogGroup": {"name": Rule(r"[.\-_/#A-Za-z0-9]+", "Logs LogGroupName", max_length=512)},
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": {"name": Rule(r"[^:*]+", "Logs FilterName", max_length=512)},
    "aws:cloudwatch/metricAlarm:MetricAlarm": {"name": Rule(r"[^\x00-\x1f\x7f]+", "CloudWatch AlarmName")},
    "aws:secretsmanager/secret:Secret": {"name": Rule(r"[A-Za-z0-9/_+=.@-]+", "Secrets Manager NameType",
                                                      max_length=512)},
    "aws:servicediscovery/service:Service": {"name": Rule(DNS_LABEL, "Cloud Map ServiceName (one DNS label)", 63)},
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": {
        "name": Rule(rf"(?!arn:){DNS_LABEL}(?:\.{DNS_LABEL})*", "Cloud Map NamespaceNamePrivate", max_length=253)},
    "aws:wafv2/webAcl:WebAcl": {"name": WAF_NAME, "visibilityConfig.metricName": WAF_METRIC,
                                "rules.*.name": WAF_NAME, "rules.*.visibilityConfig.metricName": WAF_METRIC},
    "aws:sns/topic:Topic": {"name": Rule(r"[A-Za-z0-9_-]+", "SNS CreateTopic.Name", max_length=256)},
    "aws:ec2/launchTemplate:LaunchTemplate": {"name": Rule(r"[a-zA-Z0-9().\-/_]+", "EC2 LaunchTemplateName",
                                                           max_length=128, min_length=3)},
    "aws:autoscaling/group:Group": {"name": Rule(r"[^\x00-\x08\x0b\x0c\x0e-\x1f]+", "Auto Scaling XmlStringMaxLen255")},
    "aws:ec2/securityGroup:SecurityGroup": {
        "name": Rule(r"(?!sg-)[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]+", "EC2 CreateSecurityGroup.GroupName"),
        "description": Rule(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]+", "EC2 CreateSecurityGroup.Description")},
    "aws:rds/instance:Instance": {
        "identifier": Rule(RDS_IDENTIFIER, "RDS DBInstanceIdentifier: letter first, no --, no trailing -", 63),
        "finalSnapshotIdentifier": Rule(r"[A-Za-z](?!.*--)[A-Za-z0-9-]*(?<!-)", "RDS FinalDBSnapshotIdentifier"),
        "dbName": Rule(r"[A-Za-z][A-Za-z0-9_]*", "RDS DBName (PostgreSQL)", max_length=63),
        "username": Rule(r"[A-Za-z][A-Za-z0-9_]*", "RDS MasterUsername", max_length=16)},
    "aws:rds/subnetGroup:SubnetGroup": {"name": Rule(r"(?!default$)[a-z0-9_ .-]+", "RDS DBSubnetGroupName")},
    "aws:ecr/repository:Repository": {"name": Rule(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|"
                                                   r"-+)[a-z0-9]+)*)*", "ECR RepositoryName", 256, 2)},
    "aws:cloudfront/vpcOrigin:VpcOrigin": {"vpcOriginEndpointConfig.name": Rule(
        r"[A-Za-z0-9_-]+", "CreateVpcOrigin rejects other characters (terraform-provider-aws#41392); the 64 here "
        "is the AWS CDK's generated maximum, no documented limit", max_length=64)},
    "aws:efs/fileSystem:FileSystem": {"creationToken": Rule(r".+", "EFS CreationToken", max_length=64)},
    "aws:appautoscaling/policy:Policy": {"name": Rule(r"[ -~]+", "Application Auto Scaling PolicyName", 256)},
    "aws:lambda/function:Function": {"name": Rule(r"[a-zA-Z0-9_-]+", "Lambda CreateFunction.FunctionName (a bare "
                                                  "name: 64 characters)", max_length=64)},
    "aws:cloudwatch/eventRule:EventRule": {"name": Rule(r"[.\-_A-Za-z0-9]+", "EventBridge RuleName", 64)},
    "aws:cloudfront/function:Function": {"name": Rule(r"[a-zA-Z0-9-_]+", "CloudFront FunctionName", 64)},
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": {"name": Rule(
        r"[a-zA-Z0-9-_]+", "CloudFront policy names (the console's rule; botocore documents none): unique in the "
        "account", 128)},
    "aws:s3/bucket:Bucket": {"bucket": Rule(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", "S3 bucket naming rules: 3-63 lowercase "
                                             "letters, digits, dots, hyphens", max_length=63, min_length=3)},
    "aws:elasticache/replicationGroup:ReplicationGroup": {"replicationGroupId": Rule(
        r"[a-z](?!.*--)[a-z0-9-]*(?<!-)", "ElastiCache CreateReplicationGroup.ReplicationGroupId: a letter first, "
        "letters, digits, single hyphens, no trailing hyphen (stored lowercase)", max_length=40)},
    "aws:elasticache/subnetGroup:SubnetGroup": {"name": Rule(r"[a-z0-9-]+", "ElastiCache CacheSubnetGroupName: "
                                                              "alphanumerics or hyphens (stored lowercase)")},
    "aws:cloudwatch/logDeliverySource:LogDeliverySource": {"name": Rule(r"[\w-]+", "Logs PutDeliverySource", 60)},
    "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination": {
        "name": Rule(r"[\w-]+", "Logs PutDeliveryDestination", 60)},
    **{f"aws:route53/resolverFirewall{kind}:ResolverFirewall{kind}": {"name": RESOLVER_NAME}
       for kind in ("Rule", "DomainList", "RuleGroup", "RuleGroupAssociation")},
}

# AWS types in the plan that carry no name AWS restricts (ids are assigned by AWS; tags are checked by settings).
UNNAMED = {
    "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/route:Route",
    "aws:ec2/routeTable:RouteTable", "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:ec2/vpcEndpoint:VpcEndpoint", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "aws:ec2/eip:Eip",
    "aws:ec2/networkInterface:NetworkInterface", "aws:ec2/flowLog:FlowLog",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders", "aws:appautoscaling/target:Target",
    "aws:efs/mountTarget:MountTarget", "aws:efs/accessPoint:AccessPoint", "aws:efs/backupPolicy:BackupPolicy",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy", "aws:secretsmanager/secretVersion:SecretVersion",
    "aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule", "aws:cloudfront/distribution:Distribution",
    "aws:acm/certificate:Certificate", "aws:acm/certificateValidation:CertificateValidation",
    "aws:route53/record:Record", "aws:sns/topicSubscription:TopicSubscription",
    "aws:route53/resolverFirewallConfig:ResolverFirewallConfig",
    "aws:lambda/permission:Permission", "aws:cloudwatch/eventTarget:EventTarget",
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "aws:cloudwatch/logDelivery:LogDelivery",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
}


def _values(inputs: Any, path: list[str]) -> Iterator[Any]:
    if not path:
        yield inputs
        return
    head, *rest = path
    if head == "*":
        for item in inputs or []:
            yield from _values(item, rest)
    elif isinstance(inputs, dict) and head in inputs:
        yield from _values(inputs[head], rest)


def physical_names(resource: Resource, prop: str) -> list[str]:
    """The names AWS will see: the program's, or the one Pulumi generates from the logical name."""
    given = list(_values(resource.inputs, prop.split(".")))
    if given:
        return [str(v) for v in given]
    autoname = AUTONAMING.get(resource.type, AutoName())
    if "." in prop or autoname is None or autoname.prop != prop:
        return []
    generated = f"{resource.name}{autoname.separator}{RANDOM_SUFFIX}"
    assert len(generated) <= autoname.max_length, \
        f"{resource.name}: Pulumi refuses to generate a name longer than {autoname.max_length} ({generated})"
    return [generated]


@pytest.fixture(scope="module")
def long_stack() -> Graph:
    """Prod's settings (VPC origin, WAF) with a domain and alert e-mail, under a 24-character stack name."""
    return run(LONG_STACK, config_with("prod", edge={"domain": {"name": "llm.example.com",
                                                                "hostedZoneId": "Z0123456789ABCDEFGHIJ"}},
                                       alertEmail="oncall@example.com"))


def name_problems(graph: Graph) -> list[str]:
    problems = []
    for resource in graph.resources:
        for prop, rule in RULES.get(resource.type, {}).items():
            names = physical_names(resource, prop)
            if not names and "*" not in prop and prop != "finalSnapshotIdentifier":
                problems.append(f"{resource.name}.{prop}: no name found to check")
            problems += [f"{resource.name}.{prop} = {name!r}: {why} ({rule.source})"
                         for name in names if (why := rule.problem(name))]
    return problems


def test_every_name_in_the_plan_is_one_aws_accepts(stack: Graph, long_stack: Graph) -> None:
    assert not name_problems(stack)
    assert not name_problems(long_stack)


def test_every_aws_type_in_the_plan_has_naming_rules_or_no_name(long_stack: Graph, stack: Graph) -> None:
    types = {r.type for g in (long_stack, stack) for r in g.resources if r.type.startswith("aws:")}
    assert not types - set(RULES) - UNNAMED, "add the AWS naming rules of the new type here"


def test_the_rules_catch_what_aws_rejects() -> None:
    assert RULES["aws:ecs/taskDefinition:TaskDefinition"]["family"].problem("litellm.dev.llm-gateway.internal")
    assert RULES["aws:lb/targetGroup:TargetGroup"]["name"].problem("gw-alb-tg-victoriametrics-0a1b2c3")
    assert RULES["aws:rds/instance:Instance"]["finalSnapshotIdentifier"].problem("llm-gateway--gw-db-final")
    assert RULES["aws:ecr/repository:Repository"]["name"].problem("Gw-LiteLLM-repo")
    assert not RULES["aws:ecs/service:Service"]["name"].problem("gw-litellm-service-0a1b2c3")


Check = Callable[[dict[str, Any]], list[str]]


def _container_problems(definition: dict[str, Any]) -> list[str]:
    """Inside a task definition: container names, port mapping names, and the log stream each container writes
    (`<prefix>/<container name>/<task id>`: Logs LogStreamName, 512 characters, no : or *)."""
    problems = [why for why in [ECS_NAME.problem(definition["name"])] if why]
    problems += [f"port {m['name']!r}" for m in definition.get("portMappings", [])
                 if not re.fullmatch(r"[a-z0-9_][a-z0-9_-]{0,63}", m.get("name", "x"))]
    prefix = definition["logConfiguration"]["options"]["awslogs-stream-prefix"]
    stream = f"{prefix}/{definition['name']}/{'0' * 32}"
    if len(stream) > 512 or re.search(r"[:*]", stream):
        problems.append(f"log stream {stream!r}")
    return problems


def test_container_names_ports_and_log_streams_are_valid(stack: Graph, long_stack: Graph) -> None:
    for graph in (stack, long_stack):
        for definition in graph.of_type("aws:ecs/taskDefinition:TaskDefinition"):
            for container in json.loads(definition.inputs["containerDefinitions"]):
                assert not _container_problems(container), f"{definition.name}: {_container_problems(container)}"
