"""Bedrock-only egress: tasks reach the internet only as HTTPS through the NAT instance, and may call only
Anthropic Claude models on Bedrock.

Rules that need more than one resource (which route table a private subnet uses, which group guards the NAT
instance) are stack policies that follow property dependencies, so they hold during preview as well.
"""

from __future__ import annotations

from collections.abc import Callable

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

from common import (
    LEGACY_RULE,
    SECURITY_GROUP_TYPES,
    as_list,
    config_value,
    is_private,
    is_private_range,
    network_rules,
    skip_unknowns,
)
from identity import grant_problems

INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


@skip_unknowns
def _validate_https_only_egress(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for rule in network_rules(args.resource_type, args.props, "egress"):
        if rule.https_only:
            continue
        where = f"{rule.protocol} ports {rule.from_port}-{rule.to_port}"
        for cidr in rule.cidrs:
            if not is_private_range(cidr):
                report(f"egress to {cidr} allows {where}; only tcp/443 may leave for public ranges")
        for prefix_list in rule.prefix_lists:
            report(f"egress to prefix list {prefix_list} allows {where}; a prefix list can hold any range, so "
                   "only tcp/443 may go to one")


@skip_unknowns
def _validate_no_public_task_ip(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in ("aws:ecs/service:Service", "aws:ecs/taskSet:TaskSet"):
        return
    network = (args.props.get("networkConfiguration") or {})
    if network.get("assignPublicIp") in (True, "true", "ENABLED"):
        report("ECS tasks must not get public IPs: they reach AWS only through the NAT instance")


@skip_unknowns
def _validate_bedrock_invoke_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for problem in grant_problems(args.resource_type, args.props, config_value(args, "accountId", None) or None):
        report(problem)


def depends_on(resource: PolicyResource, key: str) -> list[PolicyResource]:
    return list((resource.property_dependencies or {}).get(key, []))


ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
# Where a subnet with no association of its own routes: its VPC's main route table, which a program reaches as the
# VPC's default route table, a main route table association, or a route on the VPC's mainRouteTableId.
DEFAULT_TABLE = "aws:ec2/defaultRouteTable:DefaultRouteTable"
MAIN_ASSOCIATION = "aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation"
VPC = "aws:ec2/vpc:Vpc"


def private_route_tables(resources: list[PolicyResource], tier_tag: str, private_value: str) -> set[str]:
    """URNs of the route tables private subnets use: those associated with them, and, for a private subnet with
    no association, its VPC's main table (the VPC's default route table resource, the table a main route table
    association of that VPC names, or the VPC itself when routes are added to its mainRouteTableId)."""
    private_subnets = [r for r in resources if r.resource_type == "aws:ec2/subnet:Subnet"
                       and (r.props.get("tags") or {}).get(tier_tag) == private_value]
    associations = [r for r in resources if r.resource_type == ASSOCIATION]
    private_urns = {s.urn for s in private_subnets}
    tables = {table.urn for r in associations if any(s.urn in private_urns for s in depends_on(r, "subnetId"))
              for table in depends_on(r, "routeTableId")}
    associated = {s.urn for r in associations for s in depends_on(r, "subnetId")}
    vpcs = {v.urn for s in private_subnets if s.urn not in associated for v in depends_on(s, "vpcId")}
    def of_those_vpcs(resource: PolicyResource, key: str) -> bool:
        return any(v.urn in vpcs for v in depends_on(resource, key))

    tables |= {r.urn for r in resources if r.resource_type == VPC and r.urn in vpcs}
    tables |= {r.urn for r in resources if r.resource_type == DEFAULT_TABLE and of_those_vpcs(r, "defaultRouteTableId")}
    tables |= {t.urn for r in resources if r.resource_type == MAIN_ASSOCIATION and of_those_vpcs(r, "vpcId")
               for t in depends_on(r, "routeTableId")}
    return tables


def _via_internet_gateway(value_of: Callable[[], object], sources: list[PolicyResource]) -> bool:
    """Whether a route's gateway is an internet gateway: an output of one (decided before the value is read, so
    it holds during preview) or an id written out as igw-... (an egress-only gateway is never a gatewayId)."""
    if any(g.resource_type == "aws:ec2/internetGateway:InternetGateway" for g in sources):
        return True
    return str(value_of() or "").startswith("igw-")


@skip_unknowns
def _validate_private_routes(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    tables = private_route_tables(resources, config_value(args, "tierTag", "Tier"),
                                   config_value(args, "privateTierValue", "private"))
    for route in (r for r in resources if r.resource_type == "aws:ec2/route:Route"):
        in_private = any(t.urn in tables for t in depends_on(route, "routeTableId"))
        if in_private and _via_internet_gateway(lambda r=route: r.props.get("gatewayId"),
                                                depends_on(route, "gatewayId")):
            report(f"route {route.name} sends a private subnet to the internet gateway; use the NAT ENI", route.urn)
    for table in (r for r in resources if r.urn in tables):
        # The table's dependencies cover all its inline routes at once: an internet gateway among them counts
        # for an inline route whose gatewayId is set but not an id of another kind.
        gateways = [g for g in depends_on(table, "routes")
                    if g.resource_type == "aws:ec2/internetGateway:InternetGateway"]
        for inline in as_list(table.props.get("routes")):
            gateway = str(inline.get("gatewayId") or "")
            if gateway.startswith("igw-") or (gateway and gateways and not gateway.startswith(("vgw-", "local"))):
                report(f"private route table {table.name} has a route to an internet gateway", table.urn)


# What forwards traffic when its source/destination check is off, and where it names its security groups.
FORWARDING_GROUPS = {"aws:ec2/networkInterface:NetworkInterface": ("securityGroups",),
                     "aws:ec2/instance:Instance": ("vpcSecurityGroupIds", "securityGroups")}


def _nat_groups(resources: list[PolicyResource]) -> set[str]:
    """The NAT instance's groups: those on a network interface that forwards traffic (source/dest check off), and
    those on the interfaces of a launch template whose user data names such an interface (the instance that
    attaches it; its primary interface masquerades and carries the egress address)."""
    forwarding = [r for r in resources
                  if r.resource_type in FORWARDING_GROUPS and r.props.get("sourceDestCheck") is False]
    urns = {r.urn for r in forwarding}
    groups = {group.urn for r in forwarding for key in FORWARDING_GROUPS[r.resource_type]
              for group in depends_on(r, key)}
    for template in (r for r in resources if r.resource_type == "aws:ec2/launchTemplate:LaunchTemplate"):
        if any(d.urn in urns for d in depends_on(template, "userData")):
            groups |= {d.urn for d in depends_on(template, "networkInterfaces")
                       if d.resource_type in SECURITY_GROUP_TYPES}
    return groups


@skip_unknowns
def _validate_nat_admits_private_only(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    nat_groups = _nat_groups(resources)
    for rule in (r for r in resources if r.resource_type in (INGRESS_RULE, LEGACY_RULE)):
        if not any(g.urn in nat_groups for g in depends_on(rule, "securityGroupId")):
            continue
        for parsed in network_rules(rule.resource_type, rule.props, "ingress"):
            public = [c for c in parsed.cidrs if not is_private(c)] + list(parsed.prefix_lists)
            if public:
                report(f"NAT instance group admits {public[0]}; only the VPC's private ranges may use it", rule.urn)
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
               "IAM, evaluated as IAM does (Action/NotAction, Resource/NotResource, * and ?), allows Bedrock only "
               "InvokeModel / InvokeModelWithResponseStream (and CountTokens) on Anthropic Claude model ARNs and this "
               "account's inference profiles; no wildcard or NotAction grants, AWS managed policies or open trust.",
               _validate_bedrock_invoke_only,
               "List the exact actions; scope Bedrock to the served models' profile and foundation-model ARNs.",
               PolicyConfigSchema(properties={"accountId": {
                   "type": "string", "description": "The stack's account: inference profiles must be its own."}})),
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
        description="The NAT instance's security groups (its forwarding ENI's, and its launch template's interfaces' "
                    "when the user data names that ENI) admit only the VPC's private ranges.",
        validate=_validate_nat_admits_private_only, enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH, remediation_steps="Admit tcp/443 from the private subnets' CIDRs only."),
]
