"""The VPC's resolver as the twin answers names: Route 53 Resolver DNS Firewall's planned rules first (rule groups by
their association's priority, rules by theirs, the first match decides), then the private DNS of interface
endpoints, then the twin's internet. A function, not a DNS server on the wire: security groups do not filter the
resolver (VPC User Guide, "Security group rules"), so only its answers matter to a connection."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FirewallRule:
    order: tuple[int, int]
    action: str
    domains: tuple[str, ...]


def matches(pattern: str, name: str) -> bool:
    """DNS Firewall's domain syntax: `*` is every name, `*.example.com` its subdomains, anything else exactly."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return name.endswith(pattern[1:])
    return name == pattern


def firewall_action(rules: list[FirewallRule], name: str) -> str | None:
    """ALLOW, BLOCK or ALERT from the first rule whose list matches; None when none does (the name resolves)."""
    for rule in sorted(rules, key=lambda r: r.order):
        if any(matches(d, name) for d in rule.domains):
            return rule.action
    return None


def resolve(name: str, rules: list[FirewallRule], private_dns: dict[str, list[str]],
            internet: dict[str, str]) -> list[str] | None:
    """The addresses the VPC's resolver gives for `name`, or None (NXDOMAIN: blocked, or no such name)."""
    if firewall_action(rules, name) == "BLOCK":
        return None
    if name in private_dns:
        return private_dns[name]
    return [internet[name]] if name in internet else None
