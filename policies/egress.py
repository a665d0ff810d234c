"""Bedrock-only egress: tasks reach the internet only as HTTPS through the NAT instance, and may call only
Anthropic Claude models on Bedrock.

Rules that need more than one resource (which route table a private subnet uses, which group guards the NAT
instance) are stack policies that follow property dependencies, so they hold during preview as well.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from common import ANYWHERE, as_list, config_value, is_private, policy_statements, skip_unknowns

HTTPS = 443
ALL_PROTOCOLS = ("-1", "all")
SG = "aws:ec2/securityGroup:SecurityGroup"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
IAM_DOCUMENTS = {"aws:iam/rolePolicy:RolePolicy": "policy", "aws:iam/policy:Policy": "policy",
                 "aws:iam/role:Role": "inlinePolicies"}
# CountTokens invokes nothing and bills nothing; Claude Code needs it (/v1/messages/count_tokens).
BEDROCK_ACTIONS = {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens"}
CLAUDE_ARN = re.compile(r"^arn:aws:bedrock:[a-z0-9-*]*:(\d{12})?:(foundation-model|inference-profile)/"
                        r"((us|eu|apac|jp|au|global)\.)?anthropic\.claude-[a-z0-9.-]+(:\d+)?$")


def _egress_rules(resource_type: str, props: dict[str, Any]) -> Iterator[tuple[str, int, int, list[str]]]:
    """(protocol, from port, to port, destination CIDRs) of every egress rule a resource declares."""
    if resource_type == SG:
        for rule in as_list(props.get("egress")):
            yield (str(rule.get("protocol")), rule.get("fromPort", 0), rule.get("toPort", 0),
                   as_list(rule.get("cidrBlocks")) + as_list(rule.get("ipv6CidrBlocks")))
    elif resource_type == EGRESS_RULE:
        yield (str(props.get("ipProtocol")), props.get("fromPort", 0), props.get("toPort", 0),
               as_list(props.get("cidrIpv4")) + as_list(props.get("cidrIpv6")))
    elif resource_type == LEGACY_RULE and props.get("type") == "egress":
        yield (str(props.get("protocol")), props.get("fromPort", 0), props.get("toPort", 0),
               as_list(props.get("cidrBlocks")) + as_list(props.get("ipv6CidrBlocks")))


@skip_unknowns
def _validate_https_only_egress(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for protocol, low, high, cidrs in _egress_rules(args.resource_type, args.props):
        https_only = protocol == "tcp" and low == high == HTTPS
        for cidr in cidrs:
            if cidr in ANYWHERE and not https_only:
                report(f"egress to {cidr} allows protocol {protocol} ports {low}-{high}; only tcp/443 may leave")
            elif cidr not in ANYWHERE and not https_only and not is_private(cidr):
                report(f"egress to public range {cidr} on {protocol} {low}-{high}; other ports may go only to "
                       "security groups, prefix lists or the VPC's private ranges")


@skip_unknowns
def _validate_no_public_task_ip(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in ("aws:ecs/service:Service", "aws:ecs/taskSet:TaskSet"):
        return
    network = (args.props.get("networkConfiguration") or {})
    if network.get("assignPublicIp") in (True, "true", "ENABLED"):
        report("ECS tasks must not get public IPs: they reach AWS only through the NAT instance")


def _actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in as_list(statement.get("Action"))]


def _documents(args: ResourceValidationArgs) -> Iterator[Any]:
    key = IAM_DOCUMENTS.get(args.resource_type)
    if key == "inlinePolicies":
        yield from (p.get("policy") for p in as_list(args.props.get(key)) if p.get("policy"))
    elif key and args.props.get(key):
        yield args.props[key]


@skip_unknowns
def _validate_bedrock_invoke_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for document in _documents(args):
        for statement in policy_statements(document):
            if statement.get("Effect", "Allow") != "Allow":
                continue
            actions = _actions(statement)
            wildcards = [a for a in actions if "*" in a]
            if wildcards:
                report(f"wildcard actions {wildcards}: name each action")
            bedrock = [a for a in actions if a.lower().startswith("bedrock:")]
            if not bedrock:
                continue
            if extra := sorted(set(bedrock) - BEDROCK_ACTIONS):
                report(f"Bedrock actions {extra} beyond {sorted(BEDROCK_ACTIONS)}")
            if others := [r for r in as_list(statement.get("Resource")) if not CLAUDE_ARN.match(str(r))]:
                report(f"Bedrock allowed on {others}: only Anthropic Claude model or inference-profile ARNs")


def _depends_on(resource: PolicyResource, key: str) -> list[PolicyResource]:
    return list((resource.property_dependencies or {}).get(key, []))


def _private_route_tables(resources: list[PolicyResource], tier_tag: str, private_value: str) -> set[str]:
    private_subnets = {r.urn for r in resources if r.resource_type == "aws:ec2/subnet:Subnet"
                       and (r.props.get("tags") or {}).get(tier_tag) == private_value}
    return {table.urn for r in resources if r.resource_type == "aws:ec2/routeTableAssociation:RouteTableAssociation"
            and any(s.urn in private_subnets for s in _depends_on(r, "subnetId"))
            for table in _depends_on(r, "routeTableId")}


@skip_unknowns
def _validate_private_routes(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    tables = _private_route_tables(resources, config_value(args, "tierTag", "Tier"),
                                   config_value(args, "privateTierValue", "private"))
    for route in (r for r in resources if r.resource_type == "aws:ec2/route:Route"):
        in_private = any(t.urn in tables for t in _depends_on(route, "routeTableId"))
        via_igw = any(g.resource_type == "aws:ec2/internetGateway:InternetGateway"
                      for g in _depends_on(route, "gatewayId"))
        if in_private and via_igw:
            report(f"route {route.name} sends a private subnet to the internet gateway; use the NAT ENI", route.urn)
    for table in (r for r in resources if r.urn in tables):
        for inline in as_list(table.props.get("routes")):
            if str(inline.get("gatewayId", "")).startswith("igw-"):
                report(f"private route table {table.name} has a route to an internet gateway", table.urn)


def _nat_groups(resources: list[PolicyResource]) -> set[str]:
    """Groups on a network interface that forwards traffic (source/dest check off): the NAT instance's."""
    return {group.urn for r in resources if r.resource_type == "aws:ec2/networkInterface:NetworkInterface"
            and r.props.get("sourceDestCheck") is False for group in _depends_on(r, "securityGroups")}


@skip_unknowns
def _validate_nat_admits_private_only(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    nat_groups = _nat_groups(resources)
    for rule in (r for r in resources if r.resource_type == INGRESS_RULE):
        if not any(g.urn in nat_groups for g in _depends_on(rule, "securityGroupId")):
            continue
        cidr = rule.props.get("cidrIpv4")
        if rule.props.get("cidrIpv6") or (cidr and not is_private(cidr)) or rule.props.get("prefixListId"):
            report(f"NAT instance group admits {cidr or rule.props.get('cidrIpv6') or 'a prefix list'}; "
                   "only the VPC's private ranges may use it", rule.urn)
    for group in (r for r in resources if r.urn in nat_groups):
        for rule in as_list(group.props.get("ingress")):
            if [c for c in as_list(rule.get("cidrBlocks")) if not is_private(c)] or rule.get("ipv6CidrBlocks"):
                report(f"NAT instance group {group.name} admits public ranges inline", group.urn)


def _mandatory(name: str, description: str, validate: Callable[..., None], remediation: str,
               schema: PolicyConfigSchema | None = None) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY, severity=Severity.HIGH,
                                    config_schema=schema, remediation_steps=remediation)


POLICIES = [
    _mandatory("egress-https-only",
               "No security group or rule lets traffic leave on anything but tcp/443 to 0.0.0.0/0 or ::/0; other "
               "ports go only to security groups, prefix lists or private ranges.",
               _validate_https_only_egress,
               "Open only tcp/443 to the internet; reach other services by security group reference."),
    _mandatory("ecs-no-public-ip", "ECS services and task sets never assign public IPs to task ENIs.",
               _validate_no_public_task_ip, "Set networkConfiguration.assignPublicIp to false."),
    _mandatory("bedrock-invoke-only",
               "IAM allows Bedrock only InvokeModel / InvokeModelWithResponseStream (and CountTokens) on Anthropic "
               "Claude model and inference-profile ARNs, and no policy uses wildcard actions.",
               _validate_bedrock_invoke_only,
               "List the exact actions; scope Bedrock to the served models' profile and foundation-model ARNs."),
    StackValidationPolicy(
        name="private-routes-avoid-igw",
        description="Route tables of private subnets (tagged Tier=private) have no route to an internet gateway.",
        validate=_validate_private_routes, enforcement_level=EnforcementLevel.MANDATORY, severity=Severity.HIGH,
        config_schema=PolicyConfigSchema(properties={
            "tierTag": {"type": "string", "default": "Tier"},
            "privateTierValue": {"type": "string", "default": "private"}}),
        remediation_steps="Send 0.0.0.0/0 from private route tables to the NAT instance's ENI."),
    StackValidationPolicy(
        name="nat-admits-private-only",
        description="The NAT instance's security group admits only the VPC's private ranges.",
        validate=_validate_nat_admits_private_only, enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH, remediation_steps="Admit tcp/443 from the private subnets' CIDRs only."),
]
