"""The planned network as the twin builds it: subnets, route tables, security groups and the interfaces that matter,
read from the graph the program planned (never written by hand).

Every shape a plan can use is read: inline `ingress`/`egress` blocks, `aws:vpc/SecurityGroup{Ingress,Egress}Rule`,
legacy `aws:ec2/SecurityGroupRule`; routes as `aws:ec2/Route` or inline on the table; gateway endpoints as routes.
plan.py names every resource with a footprint in the VPC that the twin does not read (`Model.unmodelled`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from components.gateway import CLOUDFRONT_ORIGIN_FACING
from offline.engine import Graph
from tests.twin.resolver import FirewallRule

ALL_PORTS = (0, 65535)
# Protocol names and numbers as rules may give them (IANA numbers: 6 tcp, 17 udp, 1 icmp; -1 every protocol).
PROTOCOLS = {"-1": "all", "all": "all", "tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp",
             "1": "icmp"}
# Stand-in members of AWS-managed prefix lists (the twin's "internet" hands these addresses out).
PREFIX_LIST_STAND_INS = {CLOUDFRONT_ORIGIN_FACING: ["192.0.2.0/25"]}
S3_STAND_IN = "198.18.3.0/24"
# The group AWS creates with the first CloudFront VPC origin (CloudFront Developer Guide, "Restrict access with VPC
# origins"); it is not in the plan, so the twin gives it egress to anywhere, as AWS's own group has.
VPC_ORIGIN_GROUP = "CloudFront-VPCOrigins-Service-SG"
@dataclass(frozen=True)
class Rule:
    """One security group rule: protocol, port range, and the peer (a CIDR, a group or a prefix list)."""

    protocol: str
    ports: tuple[int, int]
    cidr: str | None = None
    group_id: str | None = None
    prefix_list: str | None = None


@dataclass
class SecurityGroup:
    id: str
    name: str
    ingress: list[Rule] = field(default_factory=list)
    egress: list[Rule] = field(default_factory=list)


@dataclass(frozen=True)
class Subnet:
    id: str
    cidr: str
    route_table: str

    @property
    def gateway(self) -> str:
        """The VPC router's address in the subnet: its network address plus one (VPC User Guide, "Subnet CIDR
        blocks")."""
        return str(ipaddress.ip_network(self.cidr).network_address + 1)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.cidr).prefixlen

    def host(self, number: int) -> str:
        return str(ipaddress.ip_network(self.cidr).network_address + number)


@dataclass(frozen=True)
class Route:
    destination: str
    # "igw", "eni:<interface id>", "s3" (a gateway endpoint), or "?<what>" for a target the twin cannot carry.
    target: str


@dataclass
class Interface:
    """A network interface the plan creates (or makes AWS create): who it belongs to and what guards it."""

    key: str
    unit: str
    subnet: Subnet
    groups: list[str]
    address: str = ""
    eni_id: str = ""
    source_dest_check: bool = True
    public: bool = False
    listens: tuple[int, ...] = ()


@dataclass
class NatPlan:
    """What the NAT instance's boot works with."""

    subnet: Subnet
    groups: list[str]
    static_eni: str
    elastic_ip: str
    allocation_id: str
    user_data: str
    role_name: str
    # The role's identity policies, as IAM evaluates them.
    role_documents: list[dict[str, Any]]
    # IAM's request context (aws:ResourceTag/...) of what the launch template tags, and of the static ENI.
    instance_tags: dict[str, str]
    interface_tags: dict[str, str]
    static_eni_tags: dict[str, str]
    public_at_launch: bool


@dataclass
class Model:
    stack: str
    region: str
    account_id: str
    vpc_cidr: str
    subnets: dict[str, Subnet]
    route_tables: dict[str, list[Route]]
    groups: dict[str, SecurityGroup]
    interfaces: list[Interface]
    nat: NatPlan
    prefix_lists: dict[str, list[str]]
    unmodelled: list[str]
    # The VPC's DNS Firewall rules, and the names interface endpoints answer in the VPC (private DNS) -> their
    # interfaces' keys.
    firewall: list[FirewallRule] = field(default_factory=list)
    private_dns: dict[str, list[str]] = field(default_factory=dict)


def _protocol(value: Any) -> str:
    return PROTOCOLS.get(str(value).lower(), f"?{value}")


def _ports(protocol: str, from_port: Any, to_port: Any) -> tuple[int, int]:
    if protocol == "all" or from_port in (None, -1):
        return ALL_PORTS
    return int(from_port), int(to_port)


def _legacy_rules(inputs: dict[str, Any], own_id: str) -> Iterator[Rule]:
    """Inline blocks and `aws:ec2/SecurityGroupRule` share a shape: lists of peers per rule."""
    protocol = _protocol(inputs.get("protocol"))
    ports = _ports(protocol, inputs.get("fromPort"), inputs.get("toPort"))
    for cidr in [*inputs.get("cidrBlocks", []), *inputs.get("ipv6CidrBlocks", [])]:
        yield Rule(protocol, ports, cidr=cidr)
    for prefix_list in inputs.get("prefixListIds", []):
        yield Rule(protocol, ports, prefix_list=prefix_list)
    for group in [*inputs.get("securityGroups", []), *([inputs["sourceSecurityGroupId"]]
                                                       if inputs.get("sourceSecurityGroupId") else [])]:
        yield Rule(protocol, ports, group_id=group)
    if inputs.get("self"):
        yield Rule(protocol, ports, group_id=own_id)


def _vpc_rule(inputs: dict[str, Any]) -> Rule:
    protocol = _protocol(inputs.get("ipProtocol"))
    return Rule(protocol, _ports(protocol, inputs.get("fromPort"), inputs.get("toPort")),
                cidr=inputs.get("cidrIpv4") or inputs.get("cidrIpv6"), group_id=inputs.get("referencedSecurityGroupId"),
                prefix_list=inputs.get("prefixListId"))


def security_groups(graph: Graph) -> dict[str, SecurityGroup]:
    """Every group with every rule, whichever resource shape declared it. pulumi-aws removes the allow-all egress
    rule AWS adds to a new group (SecurityGroup docs: "Pulumi will remove this default rule"), so a group without
    egress rules has none."""
    groups: dict[str, SecurityGroup] = {}
    for resource in [*graph.of_type("aws:ec2/securityGroup:SecurityGroup"),
                     *graph.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")]:
        group = groups[graph.id_of(resource)] = SecurityGroup(graph.id_of(resource), resource.name)
        for direction in ("ingress", "egress"):
            for block in resource.inputs.get(direction) or []:
                getattr(group, direction).extend(_legacy_rules(block, group.id))
    for kind, direction in (("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "ingress"),
                            ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "egress")):
        for rule in graph.of_type(kind):
            getattr(groups[rule.inputs["securityGroupId"]], direction).append(_vpc_rule(rule.inputs))
    for rule in graph.of_type("aws:ec2/securityGroupRule:SecurityGroupRule"):
        own = rule.inputs["securityGroupId"]
        getattr(groups[own], rule.inputs["type"]).extend(_legacy_rules(rule.inputs, own))
    return groups


def _route_target(graph: Graph, inputs: dict[str, Any]) -> str:
    igw_ids = {graph.id_of(r) for r in graph.of_type("aws:ec2/internetGateway:InternetGateway")}
    if inputs.get("gatewayId") in igw_ids:
        return "igw"
    if inputs.get("networkInterfaceId"):
        return f"eni:{inputs['networkInterfaceId']}"
    named = {k: v for k, v in inputs.items() if k.endswith("Id") and k not in ("routeTableId",) and v}
    return f"?{named}"


def route_tables(graph: Graph) -> tuple[dict[str, list[Route]], dict[str, str]]:
    """Routes per table (the VPC's local route is implied) and each subnet's table; a subnet without an association
    uses the VPC's main table, which the plan leaves with its local route alone."""
    tables: dict[str, list[Route]] = {"main": []}
    for table in graph.of_type("aws:ec2/routeTable:RouteTable"):
        tables[graph.id_of(table)] = [Route(r["cidrBlock"], _route_target(graph, r))
                                      for r in table.inputs.get("routes") or [] if r.get("cidrBlock")]
    for route in graph.of_type("aws:ec2/route:Route"):
        tables[route.inputs["routeTableId"]].append(Route(route.inputs["destinationCidrBlock"],
                                                          _route_target(graph, route.inputs)))
    for endpoint in graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"):
        if endpoint.inputs.get("vpcEndpointType") == "Gateway" and endpoint.inputs["serviceName"].endswith(".s3"):
            for table_id in endpoint.inputs.get("routeTableIds", []):
                tables[table_id].append(Route(S3_STAND_IN, "s3"))
    associations = {a.inputs["subnetId"]: a.inputs["routeTableId"]
                    for a in graph.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")}
    return tables, associations
