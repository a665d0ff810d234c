"""Helpers shared by the policies: unknown values during preview, IAM documents, networks."""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy.proxy import UnknownValueError

ANYWHERE = ("0.0.0.0/0", "::/0")
PRIVATE_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def skip_unknowns(validate: Callable[..., None]) -> Callable[..., None]:
    """A value not known until the update (a preview of new resources) makes the check not applicable."""

    @functools.wraps(validate)
    def checked(args: Any, report: Callable[..., None]) -> None:
        try:
            validate(args, report)
        except UnknownValueError as unknown:
            args.not_applicable(f"unknown during preview: {unknown.message}")

    return checked


def is_private(cidr: str) -> bool:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return network.version == 4 and any(network.subnet_of(r) for r in PRIVATE_RANGES)


def is_mapping(value: Any) -> bool:
    """A dict, or the engine's read-only proxy of one (which is no dict)."""
    return hasattr(value, "keys")


def policy_statements(document: Any) -> Iterator[dict[str, Any]]:
    """The statements of an IAM policy given as JSON text or as an object. pulumi-aws's Python SDK takes a
    PolicyDocumentArgs (keys Version, Statement) or a dict for every policy input; in a real preview the provider's
    Check turns it into JSON text before the analyzer sees it (TransformJSONDocument), while the offline runner and
    the probes hand the object over as the engine's proxy of a mapping: both are judged."""
    if isinstance(document, str):
        document = json.loads(document)
    if not is_mapping(document):
        raise ValueError(f"a policy document that is neither JSON text nor an object: {type(document).__name__}")
    yield from as_list(document.get("Statement"))


def as_list(value: Any) -> list[Any]:
    """A value that may be one item or a list (also the engine's read-only list proxies) as a list."""
    if value is None:
        return []
    if isinstance(value, str | bytes) or is_mapping(value) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def config_value(args: Any, key: str, default: Any) -> Any:
    config = args.get_config() if hasattr(args, "get_config") else {}
    return (config or {}).get(key, default)


PRIVATE_V6 = ipaddress.ip_network("fc00::/7")
SECURITY_GROUP_TYPES = ("aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
VPC_RULE = {"ingress": "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "egress": "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"}
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"


PORTED = ("tcp", "udp")


@dataclass(frozen=True)
class NetworkRule:
    """One security group rule in any of the provider's shapes: protocol, ports, and what it names."""

    protocol: str
    from_port: int
    to_port: int
    cidrs: tuple[str, ...]
    prefix_lists: tuple[str, ...]

    def admits(self, protocol: str, port: int) -> bool:
        """Whether it lets `protocol` in on `port`. Only tcp and udp have ports: for ICMP, EC2 keeps the type and
        code in fromPort/toPort, so any ICMP rule admits ICMP; "-1" admits everything."""
        if self.protocol == "-1":
            return True
        if self.protocol != protocol:
            return False
        return protocol not in PORTED or self.from_port <= port <= self.to_port

    @property
    def https_only(self) -> bool:
        return self.protocol == "tcp" and self.from_port == self.to_port == 443


# EC2 takes a protocol by name or by IANA number; "-1" (or "all") is every protocol and port.
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}


def protocol_name(value: Any) -> str:
    text = str(value).lower()
    return PROTOCOL_NAMES.get(text, text)


def network_rules(resource_type: str, props: dict[str, Any], direction: str) -> list[NetworkRule]:
    """Every `direction` ("ingress"/"egress") rule a resource declares: inline on a (default) security group,
    a vpc/SecurityGroup{Ingress,Egress}Rule, or a legacy ec2/SecurityGroupRule."""
    if resource_type in SECURITY_GROUP_TYPES:
        return [NetworkRule(protocol_name(r.get("protocol")), r.get("fromPort", 0), r.get("toPort", 0),
                            tuple(as_list(r.get("cidrBlocks")) + as_list(r.get("ipv6CidrBlocks"))),
                            tuple(as_list(r.get("prefixListIds")))) for r in as_list(props.get(direction))]
    if resource_type == VPC_RULE[direction]:
        return [NetworkRule(protocol_name(props.get("ipProtocol")), props.get("fromPort", 0), props.get("toPort", 0),
                            tuple(as_list(props.get("cidrIpv4")) + as_list(props.get("cidrIpv6"))),
                            tuple(as_list(props.get("prefixListId"))))]
    if resource_type == LEGACY_RULE and props.get("type") == direction:
        return [NetworkRule(protocol_name(props.get("protocol")), props.get("fromPort", 0), props.get("toPort", 0),
                            tuple(as_list(props.get("cidrBlocks")) + as_list(props.get("ipv6CidrBlocks"))),
                            tuple(as_list(props.get("prefixListIds"))))]
    return []


def is_private_range(cidr: str) -> bool:
    """RFC 1918 for IPv4, unique local (fc00::/7) for IPv6."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return is_private(cidr) if network.version == 4 else network.subnet_of(PRIVATE_V6)


# How much public address space counts as "the world": a /8 of IPv4 (1/256 of it, the size of the largest ISP
# blocks) and, for IPv6, a /32 (a whole ISP's or LIR's allocation at RIPE and ARIN; a site gets a /48).
WORLD_SHARE = {4: 2.0 ** -8, 6: 2.0 ** -32}


def public_shares(cidrs: Iterable[str]) -> dict[int, float]:
    """The share of each IP version's whole address space that the public ones of `cidrs` cover together
    (overlaps counted once)."""
    networks: dict[int, list[Any]] = {4: [], 6: []}
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if not is_private_range(cidr):
            networks[network.version].append(network)
    return {version: sum(2.0 ** -n.prefixlen for n in ipaddress.collapse_addresses(found))
            for version, found in networks.items()}


def covers_the_world(cidrs: Iterable[str]) -> bool:
    return any(share >= WORLD_SHARE[version] for version, share in public_shares(cidrs).items())
