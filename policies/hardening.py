"""Hardening: databases, volumes, viewers, ingress, logs, images, secrets and instance metadata."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

from detect_secrets.core.scan import _process_line_based_plugins as _line_plugins
from detect_secrets.settings import default_settings
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
    is_mapping,
    network_rules,
    policy_statements,
    skip_unknowns,
)

CURRENT_VIEWER_TLS = ("TLSv1.2_2019", "TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025")
# What detect-secrets does not look for: a bearer token (an HTTP header in a health check or curl), a secret in a
# URL's query (webhooks, presigned links), and API keys shaped like OpenAI's and Anthropic's (sk-...).
CREDENTIAL_PATTERNS = {
    "Bearer token": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{12,}"),
    "secret in a URL query": re.compile(r"(?i)[?&](token|key|api_key|apikey|access_token|secret|sig|signature|"
                                        r"password|pass)=[^&\s'\"]{8,}"),
    "API key (sk-)": re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
}
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
    # A read replica is backed up through its source; RDS sets its own retention to 0 unless asked.
    if not props.get("backupRetentionPeriod") and not props.get("replicateSourceDb"):
        problems.append("database keeps no backups (backupRetentionPeriod 0 or unset)")
    return problems


def _cache_encrypted_at_rest(props: dict[str, Any]) -> bool:
    """What AWS does when it is not written: on for Valkey, off for Redis OSS (the engine when none is named)."""
    written = props.get("atRestEncryptionEnabled")
    return written if written is not None else str(props.get("engine") or "redis").lower() == "valkey"


def _cache(resource_type: str, props: dict[str, Any]) -> list[str]:
    """ElastiCache (Valkey/Redis OSS) holds spend counters and key state: encrypted both ways and never open."""
    if resource_type != "aws:elasticache/replicationGroup:ReplicationGroup":
        return []
    problems = []
    if props.get("transitEncryptionEnabled") is not True or props.get("transitEncryptionMode") == "preferred":
        problems.append("cache accepts plain-text connections: set transitEncryptionEnabled and mode required")
    if not _cache_encrypted_at_rest(props):
        problems.append("cache data is not encrypted at rest (for Redis OSS, unset means off)")
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


def _detected(line: str) -> list[str]:
    """What detect-secrets' own detectors and filters find in one line, read as a YAML line (its keyword detector
    then judges `name=value` and `--flag=value` pairs): keywords with a real value (not a reference, a path or a
    flag), AWS keys (AKIA and ASIA), basic auth in URLs, Slack, Stripe, JWT, private keys, and the rest of its set."""
    with default_settings():
        return sorted({secret.type for secret in _line_plugins(lines=[(1, line)], filename="container.yaml")})


def _credentials(line: str) -> list[str]:
    return _detected(line) + [kind for kind, pattern in CREDENTIAL_PATTERNS.items() if pattern.search(line)]


def _argument_lines(arguments: list[str]) -> list[str]:
    """Each argument, and `--flag value` as `--flag=value` (how a keyword detector reads a pair)."""
    pairs = [f"{flag}={value}" for flag, value in itertools.pairwise(arguments)
             if flag.startswith("-") and "=" not in flag and value and not value.startswith("-")]
    return [*arguments, *pairs]


def _container_lines(container: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, line) for every place a container definition carries text a process or ECS reads."""
    found = [(f"environment {v.get('name')}", f"{v.get('name')}={v.get('value', '')}")
             for v in as_list(container.get("environment"))]
    for key in ("command", "entryPoint"):
        found += [(key, line) for line in _argument_lines([str(a) for a in as_list(container.get(key))])]
    health = [str(a) for a in as_list((container.get("healthCheck") or {}).get("command"))]
    return found + [("healthCheck", line) for line in _argument_lines(health)]


def _plain_secrets(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type != "aws:ecs/taskDefinition:TaskDefinition":
        return []
    definitions = props.get("containerDefinitions") or "[]"
    containers = json.loads(definitions) if isinstance(definitions, str) else definitions
    problems = []
    for container in containers:
        for where, line in _container_lines(container):
            if kinds := _credentials(line):
                problems.append(f"container {container.get('name')} has a credential in its {where} "
                                f"({', '.join(kinds)}): use `secrets`")
    return list(dict.fromkeys(problems))


# Resource policies that can hand a resource to anyone, and the input that holds each.
RESOURCE_POLICIES = {"aws:s3/bucketPolicy:BucketPolicy": "policy", "aws:sns/topic:Topic": "policy",
                     "aws:sns/topicPolicy:TopicPolicy": "policy", "aws:secretsmanager/secret:Secret": "policy",
                     "aws:secretsmanager/secretPolicy:SecretPolicy": "policy",
                     "aws:sqs/queuePolicy:QueuePolicy": "policy", "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy"}
PUBLIC_ACCESS_SWITCHES = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
# What narrows a Lambda permission for an AWS service or everyone to one source (Lambda's AddPermission).
LAMBDA_SOURCE_KEYS = ("sourceArn", "sourceAccount", "principalOrgId")


def _anyone(principal: Any) -> bool:
    values = [v for found in principal.values() for v in as_list(found)] if is_mapping(principal) else as_list(
        principal)
    return "*" in [str(v) for v in values]


def _public_access(resource_type: str, props: dict[str, Any]) -> list[str]:
    """Resource policies that allow anyone (`*`) without a condition, a bucket's public access block with a switch
    off, a Lambda permission for everyone with no source named."""
    if key := RESOURCE_POLICIES.get(resource_type):
        return [f"{resource_type.split(':')[2]} policy allows anyone (Principal *) without a condition"
                for statement in (policy_statements(props[key]) if props.get(key) else [])
                if statement.get("Effect", "Allow") == "Allow" and _anyone(statement.get("Principal"))
                and not statement.get("Condition")]
    if resource_type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        off = [s for s in PUBLIC_ACCESS_SWITCHES if props.get(s) is not True]
        return [f"public access block leaves {off} off (unset is off)"] if off else []
    if resource_type == "aws:lambda/permission:Permission" and str(props.get("principal")) == "*":
        return [] if any(props.get(k) for k in LAMBDA_SOURCE_KEYS) else [
            "Lambda permission lets anyone invoke the function: name the principal or a sourceArn/sourceAccount"]
    return []


def _unprivileged_tasks(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type != "aws:ecs/taskDefinition:TaskDefinition":
        return []
    definitions = props.get("containerDefinitions") or "[]"
    containers = json.loads(definitions) if isinstance(definitions, str) else definitions
    problems = [f"container {c.get('name')} runs privileged" for c in containers if c.get("privileged") is True]
    if props.get("networkMode") == "host":
        problems.append("task uses the host's network namespace (networkMode host)")
    return problems


def _imdsv2(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type not in ("aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate"):
        return []
    options = props.get("metadataOptions") or {}
    if options.get("httpEndpoint") == "disabled":  # no metadata service at all: stricter than IMDSv2
        return []
    tokens = options.get("httpTokens")
    return [] if tokens == "required" else [f"instance metadata allows IMDSv1 (httpTokens={tokens}); require IMDSv2"]


def _policy(name: str, description: str, check: Check, remediation: str,
            level: EnforcementLevel = EnforcementLevel.MANDATORY) -> ResourceValidationPolicy:
    @skip_unknowns
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for problem in check(args.resource_type, args.props):
            report(problem)

    return ResourceValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level,
                                    severity=Severity.MEDIUM if level == EnforcementLevel.MANDATORY else Severity.LOW,
                                    remediation_steps=remediation)


def _default_certificate(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type != "aws:cloudfront/distribution:Distribution":
        return []
    if (props.get("viewerCertificate") or {}).get("cloudfrontDefaultCertificate"):
        return ["viewers use CloudFront's default *.cloudfront.net certificate, with which CloudFront sets the "
                "security policy to TLSv1 (viewers may negotiate TLS 1.0 and 1.1); a custom domain allows TLSv1.2_2021"]
    return []


POLICIES = [
    _policy("rds-encrypted-private-backed-up", "RDS storage is encrypted, not public, and backed up.", _rds,
            "Set storageEncrypted, publiclyAccessible=false and a backupRetentionPeriod of at least 1 day."),
    _policy("cache-encrypted-authenticated", "ElastiCache requires TLS and a credential, and encrypts at rest.",
            _cache, "Set transitEncryptionEnabled with transitEncryptionMode required, atRestEncryptionEnabled, "
            "and authToken (or userGroupIds)."),
    _policy("efs-encrypted", "EFS file systems are encrypted at rest.", _efs, "Set encrypted=true."),
    _policy("cloudfront-https-viewers", "CloudFront viewers use HTTPS with a current TLS policy (a distribution on "
            "the default certificate is judged by cloudfront-default-certificate instead).", _cloudfront,
            "Use redirect-to-https and minimumProtocolVersion TLSv1.2_2021."),
    _policy("cloudfront-default-certificate", "Advisory: a distribution on the default *.cloudfront.net "
            "certificate accepts TLSv1 viewers (CloudFront fixes its policy at TLSv1); stacks without a domain "
            "(edge.domain) accept that.", _default_certificate,
            "Give the stack a domain (edge.domain) and an ACM certificate in us-east-1.", EnforcementLevel.ADVISORY),
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
    _policy("imdsv2-required", "Instances and launch templates require IMDSv2 (or turn the metadata service off).",
            _imdsv2, "Set metadataOptions.httpTokens=required."),
    _policy("no-public-resource-access", "Resource policies (S3 bucket, SNS topic, Secrets Manager secret, SQS "
            "queue, ECR repository) allow no one-for-all Principal * without a condition; S3 public access blocks "
            "have all four switches on; Lambda permissions for * name their source.", _public_access,
            "Name the principals, or add a condition (aws:SourceArn, aws:SourceAccount) that narrows `*`."),
    _policy("ecs-tasks-unprivileged", "ECS task definitions run no privileged container and not in the host's "
            "network namespace.", _unprivileged_tasks, "Drop privileged and use networkMode awsvpc."),
]
