"""Hardening: databases, volumes, viewers, ingress, logs, images, secrets and instance metadata."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from common import (
    SECURITY_GROUP_TYPES,
    NetworkRule,
    as_list,
    covers_the_world,
    network_rules,
    skip_unknowns,
)

CURRENT_VIEWER_TLS = ("TLSv1.2_2019", "TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025")
SECRET_NAME = re.compile(r"(KEY|PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL)", re.IGNORECASE)
FLAG_VALUES = {"true", "false", "0", "1", "yes", "no", ""}
# Values that are credentials whatever their name: a URL with a password, API keys, AWS access keys.
CREDENTIAL_VALUE = re.compile(r"://[^/\s:@]+:[^@\s/]+@|\bsk-[A-Za-z0-9_-]{8,}|\bAKIA[0-9A-Z]{16}\b")
SECRET_FLAG = re.compile(r"^--?[\w-]*(key|password|passwd|secret|token|credential)[\w-]*$", re.IGNORECASE)
Check = Callable[[str, dict[str, Any]], list[str]]


def _rds(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type == "aws:rds/clusterInstance:ClusterInstance":
        return ["database instance is publicly accessible"] if props.get("publiclyAccessible") is True else []
    if resource_type not in ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster"):
        return []
    problems = []
    if props.get("storageEncrypted") is not True:
        problems.append("database storage is not encrypted")
    if props.get("publiclyAccessible") is True:
        problems.append("database is publicly accessible")
    if not props.get("backupRetentionPeriod"):
        problems.append("database keeps no backups (backupRetentionPeriod 0 or unset)")
    return problems


def _cache(resource_type: str, props: dict[str, Any]) -> list[str]:
    """ElastiCache (Valkey/Redis OSS) holds spend counters and key state: encrypted both ways and never open."""
    if resource_type != "aws:elasticache/replicationGroup:ReplicationGroup":
        return []
    problems = []
    if props.get("transitEncryptionEnabled") is not True or props.get("transitEncryptionMode") == "preferred":
        problems.append("cache accepts plain-text connections: set transitEncryptionEnabled and mode required")
    if props.get("atRestEncryptionEnabled") is False:
        problems.append("cache data is not encrypted at rest")
    if not props.get("authToken") and not props.get("userGroupIds"):
        problems.append("cache accepts any client that reaches it: set an AUTH token or RBAC user groups")
    return problems


def _efs(resource_type: str, props: dict[str, Any]) -> list[str]:
    return ["file system is not encrypted"] if resource_type == "aws:efs/fileSystem:FileSystem" and \
        props.get("encrypted") is not True else []


def _cloudfront(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type != "aws:cloudfront/distribution:Distribution":
        return []
    behaviors = [props.get("defaultCacheBehavior") or {}, *as_list(props.get("orderedCacheBehaviors"))]
    problems = [f"behaviour {b.get('pathPattern', 'default')} lets viewers use plain HTTP"
                for b in behaviors if b.get("viewerProtocolPolicy") == "allow-all"]
    for origin in as_list(props.get("origins")):
        policy = (origin.get("customOriginConfig") or {}).get("originProtocolPolicy")
        if policy == "http-only":
            problems.append(f"origin {origin.get('originId')} is reached in plain HTTP: keys and prompts travel "
                            "in clear between CloudFront and a public origin")
    certificate = props.get("viewerCertificate") or {}
    if not certificate.get("cloudfrontDefaultCertificate") and \
            certificate.get("minimumProtocolVersion") not in CURRENT_VIEWER_TLS:
        problems.append(f"viewer TLS policy {certificate.get('minimumProtocolVersion')} is older than TLSv1.2_2019")
    return problems


def world_open_ingress(rules: list[NetworkRule]) -> list[str]:
    """Ports that public ranges reach at the scale of the world (common.WORLD_SHARE), one range alone or the
    union of every rule admitting that port (four /9s, 0.0.0.0/1 + 128.0.0.0/1 in two rules)."""
    problems = []
    for rule in rules:
        together = {c for other in rules if other.overlaps(rule) for c in other.cidrs}
        if covers_the_world(together):
            alone = [c for c in rule.cidrs if covers_the_world([c])]
            what = f"open to {alone[0]}" if alone else f"from {sorted(together)}, together the public internet,"
            problems.append(f"ingress {rule.protocol} {rule.ports[0]}-{rule.ports[1]} {what}: admit CloudFront's "
                            "prefix list or security groups")
    return list(dict.fromkeys(problems))


def _open_ingress(resource_type: str, props: dict[str, Any]) -> list[str]:
    return world_open_ingress(network_rules(resource_type, props, "ingress"))


def _group_of(resource: PolicyResource) -> str:
    """The security group a rule resource belongs to (the group resource it follows, else the id written); a group
    is its own."""
    if resource.resource_type in SECURITY_GROUP_TYPES:
        return resource.urn
    sources = (resource.property_dependencies or {}).get("securityGroupId") or []
    return sources[0].urn if sources else str(resource.props.get("securityGroupId"))


@skip_unknowns
def _validate_group_ingress(args: StackValidationArgs, report: ReportViolation) -> None:
    """Rules of one group admit together: four separate /9 rules open a port to 1/128 of IPv4."""
    by_group: dict[str, list[NetworkRule]] = {}
    for resource in args.resources:
        by_group.setdefault(_group_of(resource), []).extend(
            network_rules(resource.resource_type, resource.props, "ingress"))
    for group, rules in by_group.items():
        for problem in world_open_ingress(rules):
            report(f"security group {group}: {problem}")


def _log_retention(resource_type: str, props: dict[str, Any]) -> list[str]:
    return ["log group keeps logs forever: set retentionInDays"] if \
        resource_type == "aws:cloudwatch/logGroup:LogGroup" and not props.get("retentionInDays") else []


def _ecr(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type != "aws:ecr/repository:Repository":
        return []
    problems = []
    if not (props.get("imageScanningConfiguration") or {}).get("scanOnPush"):
        problems.append("repository does not scan images on push")
    if props.get("imageTagMutability") not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
        problems.append("repository tags are mutable")
    return problems


def _plain_secrets(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type != "aws:ecs/taskDefinition:TaskDefinition":
        return []
    definitions = props.get("containerDefinitions") or "[]"
    containers = json.loads(definitions) if isinstance(definitions, str) else definitions
    problems = []
    for container in containers:
        name = container.get("name")
        for variable in as_list(container.get("environment")):
            value = str(variable.get("value", ""))
            if SECRET_NAME.search(variable.get("name", "")) and value.lower() not in FLAG_VALUES:
                problems.append(f"container {name} has {variable['name']} in plain environment: use `secrets`")
            elif CREDENTIAL_VALUE.search(value):
                problems.append(f"container {name} has a credential in {variable.get('name')}: use `secrets`")
        arguments = [str(a) for a in as_list(container.get("command")) + as_list(container.get("entryPoint"))]
        for flag, value in itertools.pairwise([*arguments, ""]):
            if CREDENTIAL_VALUE.search(flag) or (SECRET_FLAG.match(flag) and value and not value.startswith("-")):
                problems.append(f"container {name} passes a credential on its command line ({flag}): use `secrets`")
    return problems


def _imdsv2(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type not in ("aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate"):
        return []
    tokens = (props.get("metadataOptions") or {}).get("httpTokens")
    return [] if tokens == "required" else [f"instance metadata allows IMDSv1 (httpTokens={tokens}); require IMDSv2"]


def _policy(name: str, description: str, check: Check, remediation: str) -> ResourceValidationPolicy:
    @skip_unknowns
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for problem in check(args.resource_type, args.props):
            report(problem)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY, severity=Severity.MEDIUM,
                                    remediation_steps=remediation)


POLICIES = [
    _policy("rds-encrypted-private-backed-up", "RDS storage is encrypted, not public, and backed up.", _rds,
            "Set storageEncrypted, publiclyAccessible=false and a backupRetentionPeriod of at least 1 day."),
    _policy("cache-encrypted-authenticated", "ElastiCache requires TLS and a credential, and encrypts at rest.",
            _cache, "Set transitEncryptionEnabled with transitEncryptionMode required, atRestEncryptionEnabled, "
            "and authToken (or userGroupIds)."),
    _policy("efs-encrypted", "EFS file systems are encrypted at rest.", _efs, "Set encrypted=true."),
    _policy("cloudfront-https-viewers", "CloudFront viewers use HTTPS with a current TLS policy.", _cloudfront,
            "Use redirect-to-https and minimumProtocolVersion TLSv1.2_2021."),
    _policy("ingress-not-open-to-world", "No ingress (the ALB's included) admits the world: public ranges that, "
            "alone or with the group's other rules for the same port, cover a /8 of IPv4 or a /32 of IPv6 "
            "(0.0.0.0/0, ::/0, 0.0.0.0/1 + 128.0.0.0/1, four /9s, 2600::/12); protocol numbers count as names.",
            _open_ingress, "Admit CloudFront's origin-facing prefix list or a security group instead."),
    StackValidationPolicy(
        name="group-ingress-not-open-to-world",
        description="The ingress rules of one security group, inline and as separate rule resources (vpc and legacy "
                    "shapes), do not together admit the world on any port (same measure as ingress-not-open-to-world).",
        validate=_validate_group_ingress, enforcement_level=EnforcementLevel.MANDATORY, severity=Severity.MEDIUM,
        remediation_steps="Admit CloudFront's origin-facing prefix list or a security group instead."),
    _policy("log-group-retention", "Log groups expire their logs.", _log_retention,
            "Set retentionInDays (settings.py logRetentionDays)."),
    _policy("ecr-scan-immutable", "ECR repositories scan on push and have immutable tags.", _ecr,
            "Set imageScanningConfiguration.scanOnPush and imageTagMutability=IMMUTABLE."),
    _policy("no-plain-secrets-in-env", "Secret-looking variables never sit in a container's plain environment.",
            _plain_secrets, "Move the value to Secrets Manager and reference it in `secrets`."),
    _policy("imdsv2-required", "Instances and launch templates require IMDSv2.", _imdsv2,
            "Set metadataOptions.httpTokens=required."),
]
