"""Egress by name: a private subnet that can reach the internet sits in a VPC whose resolver answers only an allow
list (Route 53 Resolver DNS Firewall: a rule that blocks every other name, failing closed), and model calls take the
path the stack chose (a Bedrock runtime endpoint, when there is one, is the only Bedrock name that resolves).

Judged on the graph through property dependencies, so it holds during preview: which tables private subnets use,
which VPC each belongs to, which rule groups are associated with that VPC, which domain lists their rules name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from common import as_list, config_value, skip_unknowns
from egress import VPC, depends_on, private_route_tables

ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:route53/resolverFirewallRuleGroupAssociation:ResolverFirewallRuleGroupAssociation"
RULE = "aws:route53/resolverFirewallRule:ResolverFirewallRule"
CONFIG = "aws:route53/resolverFirewallConfig:ResolverFirewallConfig"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
DEFAULT_ROUTES = ("0.0.0.0/0", "::/0")
# Wildcards over names that cannot take HTTPS from another account: RDS (a public instance resolves to a public
# address, but RDS refuses ports below 1150), ElastiCache and EFS (VPC addresses only), private zones (.internal).
REVIEWED_WILDCARD_SUFFIXES = (".internal", ".rds.amazonaws.com", ".cache.amazonaws.com", ".efs.*.amazonaws.com")
BEDROCK_NAME = re.compile(r"^(\*\.)?bedrock[a-z-]*\.")
RUNTIME_NAME = re.compile(r"^bedrock-runtime\.([a-z0-9-]+)\.amazonaws\.com$")


def _vpc_of(resource: PolicyResource, *keys: str) -> set[str]:
    """The VPC a resource belongs to, by the input that names it (a VPC belongs to itself)."""
    if resource.resource_type == VPC:
        return {resource.urn}
    return {v.urn for key in keys or ("vpcId", "defaultRouteTableId") for v in depends_on(resource, key)}


def _has_default_route(table: PolicyResource, routes: list[PolicyResource]) -> bool:
    """A route to anywhere that is not the VPC itself: through a NAT, an instance, a gateway of any kind."""
    try:
        inline = [r for r in as_list(table.props.get("routes"))
                  if r.get("cidrBlock") in DEFAULT_ROUTES or r.get("ipv6CidrBlock") in DEFAULT_ROUTES]
    except UnknownValueError:  # a new table's inline routes are computed: its route resources decide in preview
        inline = []
    separate = [r for r in routes if any(t.urn == table.urn for t in depends_on(r, "routeTableId"))
                and (r.props.get("destinationCidrBlock") in DEFAULT_ROUTES
                     or r.props.get("destinationIpv6CidrBlock") in DEFAULT_ROUTES)]
    return bool(inline or separate)


def _tables_with_private_egress(resources: list[PolicyResource], tier_tag: str,
                                private_value: str) -> list[PolicyResource]:
    """Route tables private subnets use that send traffic out of the VPC (a VPC stands for its main table)."""
    tables = private_route_tables(resources, tier_tag, private_value)
    routes = [r for r in resources if r.resource_type == ROUTE]
    main_routes = {v.urn for r in routes for v in depends_on(r, "routeTableId") if v.resource_type == VPC}
    return [r for r in resources if r.urn in tables and (_has_default_route(r, routes) or r.urn in main_routes)]


def _rules_for(vpc: str, resources: list[PolicyResource]) -> Iterator[tuple[PolicyResource, list[str]]]:
    """(rule, its domains) for every rule of every rule group associated with `vpc`."""
    groups = {g.urn for a in resources if a.resource_type == ASSOCIATION and vpc in _vpc_of(a)
              for g in depends_on(a, "firewallRuleGroupId")}
    for rule in (r for r in resources if r.resource_type == RULE):
        if any(g.urn in groups for g in depends_on(rule, "firewallRuleGroupId")):
            domains = [d for lst in depends_on(rule, "firewallDomainListId") for d in as_list(lst.props.get("domains"))]
            yield rule, [str(d).lower().rstrip(".") for d in domains]


def _unreviewed_wildcard(domain: str, reviewed: tuple[str, ...]) -> bool:
    if not domain.startswith("*"):
        return False
    suffix = domain[1:]
    return not any(re.fullmatch(r"\.?[a-z0-9.*-]*" + re.escape(r).replace(r"\*", "[a-z0-9-]+"), suffix)
                   for r in reviewed)


def _firewall_problems(vpc: PolicyResource, resources: list[PolicyResource], reviewed: tuple[str, ...]) -> list[str]:
    rules = list(_rules_for(vpc.urn, resources))
    blocks = [rule for rule, domains in rules
              if rule.props.get("action") == "BLOCK" and "*" in domains and not rule.props.get("qType")]
    problems = [] if blocks else [
        f"VPC {vpc.name} has private subnets routed to the internet, and no DNS Firewall rule group associated with "
        "it blocks every name not allowed (a BLOCK rule on a domain list of \"*\", for every query type)"]
    for rule, domains in rules:
        # ALERT lets the query through and stops inspecting it, as ALLOW does.
        if rule.props.get("action") in ("ALLOW", "ALERT"):
            problems += [f"DNS Firewall rule {rule.name} lets {d} resolve: a wildcard over names anyone can create"
                         for d in domains if _unreviewed_wildcard(d, reviewed)]
    for config in (r for r in resources if r.resource_type == CONFIG and vpc.urn in _vpc_of(r, "resourceId")):
        if config.props.get("firewallFailOpen") == "ENABLED":
            problems.append(f"DNS Firewall fails open for VPC {vpc.name}: when it cannot answer, every name resolves")
    return problems


def _bedrock_path_problems(vpc: PolicyResource, resources: list[PolicyResource]) -> list[str]:
    """With a Bedrock runtime endpoint, its name must resolve to it (private DNS) and no other Bedrock name may be
    allowed, or model calls could still leave through the NAT."""
    endpoints = [e for e in resources if e.resource_type == ENDPOINT and vpc.urn in _vpc_of(e)
                 and str(e.props.get("serviceName", "")).endswith(".bedrock-runtime")]
    problems = [f"Bedrock endpoint {e.name} has private DNS off: the Bedrock name still resolves to the public "
                "endpoint, through the NAT" for e in endpoints if e.props.get("privateDnsEnabled") is not True]
    regions = {str(e.props["serviceName"]).split(".")[2] for e in endpoints}
    if not regions:
        return problems
    for rule, domains in _rules_for(vpc.urn, resources):
        if rule.props.get("action") not in ("ALLOW", "ALERT"):
            continue
        for domain in domains:
            runtime = RUNTIME_NAME.match(domain)
            if (runtime and runtime.group(1) not in regions) or (not runtime and BEDROCK_NAME.match(domain)):
                problems.append(f"DNS Firewall rule {rule.name} allows {domain}, which the Bedrock endpoint does not "
                                "serve: model calls to it would leave through the NAT")
    return problems


@skip_unknowns
def _validate_egress_by_name(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    reviewed = tuple(config_value(args, "reviewedWildcardSuffixes", list(REVIEWED_WILDCARD_SUFFIXES)))
    vpcs: set[str] = set()
    for table in _tables_with_private_egress(resources, config_value(args, "tierTag", "Tier"),
                                             config_value(args, "privateTierValue", "private")):
        found = _vpc_of(table)
        if not found:
            report(f"route table {table.name} sends private subnets out of a VPC the stack does not declare, so no "
                   "DNS Firewall of the stack can be judged for it", table.urn)
        vpcs |= found
    for vpc in (r for r in resources if r.urn in vpcs):
        for problem in [*_firewall_problems(vpc, resources, reviewed), *_bedrock_path_problems(vpc, resources)]:
            report(problem, vpc.urn)


POLICIES = [
    StackValidationPolicy(
        name="egress-names-allow-listed",
        description="A VPC whose private subnets can reach the internet answers only an allow list of names (Route 53 "
                    "Resolver DNS Firewall: a BLOCK rule on \"*\", no allowed wildcard over public names, not failing "
                    "open); with a Bedrock runtime endpoint, model calls can take no other path (private DNS on, no "
                    "other Bedrock name allowed).",
        validate=_validate_egress_by_name, enforcement_level=EnforcementLevel.MANDATORY, severity=Severity.HIGH,
        config_schema=PolicyConfigSchema(properties={
            "tierTag": {"type": "string", "default": "Tier"},
            "privateTierValue": {"type": "string", "default": "private"},
            "reviewedWildcardSuffixes": {
                "type": "array", "items": {"type": "string"},
                "description": "Suffixes a wildcard may cover (names of services that take no HTTPS from another "
                               "account, or resolve only inside a VPC)."}}),
        remediation_steps="Set egress.mode: allow-list (or waive this policy for the stack with the reason); allow "
                          "exact names; keep private DNS on the Bedrock endpoint."),
]
