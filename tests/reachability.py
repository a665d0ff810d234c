"""Who can reach whom on the planned graph: security group rules (both ends), routes, and IAM grants per role.

Security groups are stateful: a flow needs an egress rule on the source's group and an ingress rule on the target's
group, each naming the other end (a group, a CIDR holding its address, or a prefix list), for TCP and the port.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from offline.engine import Graph, Resource

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ROUTE = "aws:ec2/route:Route"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


@dataclass(frozen=True)
class Peer:
    """The other end of a flow, as a security group rule can name it."""

    group_id: str | None = None
    address: str | None = None
    prefix_list_id: str | None = None


def group_id(graph: Graph, name_suffix: str) -> str:
    return graph.id_of(graph.one(SECURITY_GROUP, name_suffix))


def _rule_covers(rule: Resource, port: int, peer: Peer) -> bool:
    inputs = rule.inputs
    protocol_ok = inputs.get("ipProtocol") == "-1" or (
        inputs.get("ipProtocol") == "tcp" and inputs["fromPort"] <= port <= inputs["toPort"])
    if not protocol_ok:
        return False
    if peer.group_id and inputs.get("referencedSecurityGroupId") == peer.group_id:
        return True
    if peer.prefix_list_id and inputs.get("prefixListId") == peer.prefix_list_id:
        return True
    cidr = inputs.get("cidrIpv4")
    return bool(peer.address and cidr and ipaddress.ip_address(peer.address) in ipaddress.ip_network(cidr))


def admits(graph: Graph, group: str, direction: str, port: int, peer: Peer) -> bool:
    rule_type = INGRESS if direction == "in" else EGRESS
    return any(_rule_covers(r, port, peer) for r in graph.of_type(rule_type) if r.inputs["securityGroupId"] == group)


def flow_allowed(graph: Graph, source_group: str, target_group: str, port: int) -> bool:
    return (admits(graph, source_group, "out", port, Peer(group_id=target_group))
            and admits(graph, target_group, "in", port, Peer(group_id=source_group)))


def route_target(graph: Graph, subnet_id: str, address: str) -> str:
    """Where the subnet's route table sends `address`: the longest matching route's target (or "local")."""
    (association,) = [a for a in graph.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
                      if a.inputs["subnetId"] == subnet_id]
    vpc_cidr = graph.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"]
    routes: list[tuple[ipaddress.IPv4Network, str]] = [(ipaddress.ip_network(vpc_cidr), "local")]
    for route in graph.of_type(ROUTE):
        if route.inputs["routeTableId"] == association.inputs["routeTableId"]:
            target = route.inputs.get("gatewayId") or route.inputs.get("networkInterfaceId") or "?"
            routes.append((ipaddress.ip_network(route.inputs["destinationCidrBlock"]), target))
    matching = [(net, target) for net, target in routes if ipaddress.ip_address(address) in net]
    return max(matching, key=lambda item: item[0].prefixlen)[1]


def role_of(graph: Graph, role_arn: str) -> Resource:
    (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.outputs["arn"] == role_arn]
    return role


def documents_of(graph: Graph, role: Resource) -> list[dict[str, Any]]:
    """The role's inline policies (the program grants nothing else that these calls need)."""
    return [json.loads(p.inputs["policy"]) for p in graph.of_type(ROLE_POLICY)
            if p.inputs["role"] == role.outputs["name"]]


def resource_tags(graph: Graph, tags: dict[str, str]) -> dict[str, str]:
    """IAM's request context for a resource carrying `tags` (aws:ResourceTag/<key>), default tags included."""
    provider_tags = json.loads(graph.one("pulumi:providers:aws", "aws").inputs["defaultTags"])["tags"]
    return {f"aws:ResourceTag/{k}": v for k, v in {**provider_tags, **tags}.items()}
