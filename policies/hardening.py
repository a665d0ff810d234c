"""Hardening: databases, volumes, viewers, ingress, logs, images, secrets and instance metadata."""

from __future__ import annotations

import itertools
import json
import re
import threading
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
from pulumi_policy.proxy import UnknownValueError

from common import (
    PORTED,
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
KEYWORD = "Secret Keyword"
DETECT_SECRETS_LOCK = threading.Lock()
ASSIGNMENT = re.compile(r"^(?P<name>-{0,2}[A-Za-z][\w.-]*)=(?P<value>.*)$", re.DOTALL)
SECRET_NAME = re.compile(r"(?i)(token|secret|passw(or)?d|credential|api[_.-]?key|(^|[_.-])(pass|auth|key)$|"
                         r"[_.-]key[_.-])")
# Names that hold where a secret is, not the secret; values that are no secret.
NAME_OF_A_REFERENCE = re.compile(r"(?i)[_.-](arn|name|header|file|path|id|url|uri|endpoint|host|ttl|length|"
                                 r"limit|count|size)$")
NOT_A_VALUE = re.compile(r"(?i)^(|true|false|yes|no|on|off|none|null|enabled|disabled|\d+|[/.].*|arn:.*|"
                         r"os\.environ/.*|\$\{.*\}|\$\(.*\)|\{\{.*\}\})$", re.DOTALL)
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
    # A cross-region replica ignores storageEncrypted and is encrypted by naming a key (pulumi-aws docs).
    replica = bool(props.get("replicateSourceDb"))
    if props.get("storageEncrypted") is not True and not (replica and props.get("kmsKeyId")):
        problems.append("database storage is not encrypted")
    if props.get("publiclyAccessible") is True:
        problems.append("database is publicly accessible")
    # A read replica is backed up through its source; RDS sets its own retention to 0 unless asked.
    if not props.get("backupRetentionPeriod") and not replica:
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


def _port_segments(rules: list[NetworkRule]) -> list[tuple[str, int, int]]:
    """(protocol, first, last): tcp and udp ports cut at every rule's ends, so each segment is admitted by the same
    rules throughout; every other protocol (ICMP, ...) as one segment."""
    segments = []
    for protocol in sorted({r.protocol for r in rules if r.protocol != "-1"} | set(PORTED)):
        if protocol not in PORTED:
            segments.append((protocol, 0, 0))
            continue
        ends = sorted({0, 65536} | {e for r in rules if r.protocol == protocol for e in (r.from_port, r.to_port + 1)})
        segments += [(protocol, low, high - 1) for low, high in itertools.pairwise(ends) if low < high]
    return segments


def world_open_ingress(rules: list[NetworkRule]) -> list[str]:
    """Ports that public ranges reach at the scale of the world (common.WORLD_SHARE), one range alone or the
    union of every rule admitting that port (four /9s, 0.0.0.0/1 + 128.0.0.0/1 in two rules)."""
    problems = []
    for protocol, first, last in _port_segments(rules):
        together = {c for rule in rules if rule.admits(protocol, first) for c in rule.cidrs}
        if covers_the_world(together):
            alone = sorted(c for c in together if covers_the_world([c]))
            what = f"open to {alone[0]}" if alone else f"from {sorted(together)} (together the public internet)"
            where = f"{protocol} {first}-{last}" if protocol in PORTED else protocol
            problems.append(f"ingress {where} {what}: admit CloudFront's prefix list or security groups")
    return problems


def _open_ingress(resource_type: str, props: dict[str, Any]) -> list[str]:
    return world_open_ingress(network_rules(resource_type, props, "ingress"))


def _group_of(resource: PolicyResource) -> str:
    """The security group a rule resource belongs to (the group resource it follows, else the id written); a group
    is its own."""
    if resource.resource_type in SECURITY_GROUP_TYPES:
        return resource.urn
    groups = [g for g in (resource.property_dependencies or {}).get("securityGroupId") or []
              if g.resource_type in SECURITY_GROUP_TYPES]
    return groups[0].urn if groups else str(resource.props.get("securityGroupId"))


def _validate_group_ingress(args: StackValidationArgs, report: ReportViolation) -> None:
    """Rules of one group admit together: four separate /9 rules open a port to 1/128 of IPv4. A rule whose
    ranges are not known yet (preview) is left out, and the rest are still judged; a group whose inline rules
    alone open it is ingress-not-open-to-world's to report."""
    by_group: dict[str, list[tuple[PolicyResource, list[NetworkRule]]]] = {}
    for resource in args.resources:
        try:
            rules = network_rules(resource.resource_type, resource.props, "ingress")
            group = _group_of(resource) if rules else ""
        except UnknownValueError:
            continue
        if rules:
            by_group.setdefault(group, []).append((resource, rules))
    for group, members in by_group.items():
        alone = {p for _, rules in members for p in world_open_ingress(rules)}
        together = [rule for _, rules in members for rule in rules]
        for problem in world_open_ingress(together):
            if problem not in alone:
                report(f"security group {group}: {problem}", members[0][0].urn)


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


def _detected(line: str) -> set[str]:
    """What detect-secrets' own detectors and filters find in one line, read as a YAML line: AWS keys (AKIA and
    ASIA), basic auth in URLs, Slack, Stripe, JWT, private keys and the rest of its set, and its keyword detector
    (`name=value`, `--flag=value`). Its settings are process-wide, so one call at a time (the pack's gRPC server
    has worker threads)."""
    with DETECT_SECRETS_LOCK, default_settings():
        return {secret.type for secret in _line_plugins(lines=[(1, line)], filename="container.yaml")}


def _real_secret_assignment(line: str) -> bool | None:
    """For `NAME=value` or `--flag=value`: whether a secret-named setting holds a real value (None: not an
    assignment). detect-secrets' keywords know no `token`, bare `key`, `credential` or `auth`, and take ARNs,
    LiteLLM's os.environ/ references, booleans and the names of secrets for values."""
    assignment = ASSIGNMENT.match(line)
    if assignment is None:
        return None
    name, value = assignment["name"].lstrip("-"), assignment["value"].strip("'\"")
    return bool(SECRET_NAME.search(name)) and not NAME_OF_A_REFERENCE.search(name) and \
        not NOT_A_VALUE.match(value)


def _credentials(line: str) -> list[str]:
    found = _detected(line)
    kinds = sorted(found - {KEYWORD})
    real = _real_secret_assignment(line)
    if real or (real is None and KEYWORD in found):
        kinds.append("secret-named setting with a value")
    return kinds + [kind for kind, pattern in CREDENTIAL_PATTERNS.items() if pattern.search(line)]


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


def _containers(props: dict[str, Any]) -> list[dict[str, Any]]:
    """A task definition's containers: JSON text as the provider takes it, or a list."""
    definitions = props.get("containerDefinitions") or "[]"
    return json.loads(definitions) if isinstance(definitions, str) else definitions


def _plain_secrets(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type != "aws:ecs/taskDefinition:TaskDefinition":
        return []
    containers = _containers(props)
    problems = []
    for container in containers:
        for where, line in _container_lines(container):
            if kinds := _credentials(line):
                problems.append(f"container {container.get('name')} has a credential in its {where} "
                                f"({', '.join(kinds)}): use `secrets`")
    return list(dict.fromkeys(problems))


# Resource policies that can hand a resource to anyone, and the input that holds each.
RESOURCE_POLICIES = {"aws:s3/bucketPolicy:BucketPolicy": "policy", "aws:s3/bucket:Bucket": "policy",
                     "aws:sns/topic:Topic": "policy",
                     "aws:sns/topicPolicy:TopicPolicy": "policy", "aws:secretsmanager/secret:Secret": "policy",
                     "aws:secretsmanager/secretPolicy:SecretPolicy": "policy",
                     "aws:sqs/queuePolicy:QueuePolicy": "policy", "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy"}
PUBLIC_ACCESS_SWITCHES = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
# What narrows a Lambda permission for an AWS service or everyone to one source (Lambda's AddPermission).
LAMBDA_SOURCE_KEYS = ("sourceArn", "sourceAccount", "principalOrgId")
# Condition keys that narrow Principal * to known callers (S3's definition of "public", Amazon S3 User Guide,
# "The meaning of public"; plus the organization and account of the principal). Any other condition (TLS only,
# an ACL header) leaves the resource public.
NARROWING_KEYS = frozenset(k.lower() for k in (
    "aws:SourceArn", "aws:SourceVpc", "aws:SourceVpce", "aws:SourceAccount", "aws:SourceOwner", "aws:userid",
    "aws:SourceIp", "aws:PrincipalOrgID", "aws:PrincipalAccount", "aws:PrincipalArn"))
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")


def _anyone(principal: Any) -> bool:
    values = [v for found in principal.values() for v in as_list(found)] if is_mapping(principal) else as_list(
        principal)
    return "*" in [str(v) for v in values]


def _narrowed(condition: Any) -> bool:
    return any(key.lower() in NARROWING_KEYS for keys in (condition or {}).values() for key in keys)


def _public_access(resource_type: str, props: dict[str, Any]) -> list[str]:
    """Resource policies that allow anyone (`*`) without a condition that names who, a bucket's public ACL or
    public access block with a switch off, a Lambda permission for everyone or a service with no source named."""
    problems = [f"{props['acl']} ACL makes the bucket public"] if resource_type == "aws:s3/bucket:Bucket" and \
        props.get("acl") in PUBLIC_ACLS else []
    if key := RESOURCE_POLICIES.get(resource_type):
        return problems + [
            f"{resource_type.split(':')[2]} policy allows anyone (Principal *) without a condition naming who"
            for statement in (policy_statements(props[key]) if props.get(key) else [])
            if statement.get("Effect", "Allow") == "Allow" and _anyone(statement.get("Principal"))
            and not _narrowed(statement.get("Condition"))]
    if resource_type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        off = [s for s in PUBLIC_ACCESS_SWITCHES if props.get(s) is not True]
        return [f"public access block leaves {off} off (unset is off)"] if off else []
    principal = str(props.get("principal"))
    if resource_type == "aws:lambda/permission:Permission" and (principal == "*" or principal.endswith(
            ".amazonaws.com")) and not any(props.get(k) for k in LAMBDA_SOURCE_KEYS):
        # AddPermission: a service principal without a source lets other accounts' resources invoke it too.
        who = "anyone" if principal == "*" else f"any {principal} resource, in any account,"
        return [f"Lambda permission lets {who} invoke the function: name a sourceArn or sourceAccount"]
    return []


def _unprivileged_tasks(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type != "aws:ecs/taskDefinition:TaskDefinition":
        return []
    containers = _containers(props)
    problems = [f"container {c.get('name')} runs privileged" for c in containers if c.get("privileged") is True]
    problems += [f"container {c.get('name')} adds Linux capabilities {added}" for c in containers
                 if (added := ((c.get("linuxParameters") or {}).get("capabilities") or {}).get("add"))]
    problems += [f"task shares the host's {what} namespace ({key} host)"
                 for key, what in (("networkMode", "network"), ("pidMode", "process"), ("ipcMode", "IPC"))
                 if props.get(key) == "host"]
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
            "queue, ECR repository) allow Principal * only with a condition naming who (source ARN, VPC, account, "
            "organization, IP); no public bucket ACL; S3 public access blocks have all four switches on; Lambda "
            "permissions for * or an AWS service name their source.", _public_access,
            "Name the principals, or add a condition (aws:SourceArn, aws:SourceAccount) that narrows `*`."),
    _policy("ecs-tasks-unprivileged", "ECS task definitions run no privileged container, add no Linux capability, "
            "and share none of the host's network, process or IPC namespaces.", _unprivileged_tasks,
            "Drop privileged and added capabilities; use networkMode awsvpc and no pidMode/ipcMode host."),
]
