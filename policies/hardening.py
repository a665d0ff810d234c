"""Hardening: advisory by default, made mandatory per stack through policy config (see config.prod.json)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from common import ANYWHERE, as_list, skip_unknowns

CURRENT_VIEWER_TLS = ("TLSv1.2_2019", "TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025")
SECRET_NAME = re.compile(r"(KEY|PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL)", re.IGNORECASE)
FLAG_VALUES = {"true", "false", "0", "1", "yes", "no", ""}
Check = Callable[[str, dict[str, Any]], list[str]]


def _rds(resource_type: str, props: dict[str, Any]) -> list[str]:
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


def _efs(resource_type: str, props: dict[str, Any]) -> list[str]:
    return ["file system is not encrypted"] if resource_type == "aws:efs/fileSystem:FileSystem" and \
        props.get("encrypted") is not True else []


def _cloudfront(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type != "aws:cloudfront/distribution:Distribution":
        return []
    behaviors = [props.get("defaultCacheBehavior") or {}, *as_list(props.get("orderedCacheBehaviors"))]
    problems = [f"behaviour {b.get('pathPattern', 'default')} lets viewers use plain HTTP"
                for b in behaviors if b.get("viewerProtocolPolicy") == "allow-all"]
    certificate = props.get("viewerCertificate") or {}
    if not certificate.get("cloudfrontDefaultCertificate") and \
            certificate.get("minimumProtocolVersion") not in CURRENT_VIEWER_TLS:
        problems.append(f"viewer TLS policy {certificate.get('minimumProtocolVersion')} is older than TLSv1.2_2019")
    return problems


def _open_ingress(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        sources = as_list(props.get("cidrIpv4")) + as_list(props.get("cidrIpv6"))
    elif resource_type == "aws:ec2/securityGroup:SecurityGroup":
        sources = [c for rule in as_list(props.get("ingress"))
                   for c in as_list(rule.get("cidrBlocks")) + as_list(rule.get("ipv6CidrBlocks"))]
    else:
        return []
    return [f"ingress open to {c}: admit CloudFront's prefix list or security groups" for c in sources
            if c in ANYWHERE]


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
    return [f"container {c.get('name')} has {e['name']} in plain environment: use `secrets`"
            for c in containers for e in as_list(c.get("environment"))
            if SECRET_NAME.search(e.get("name", "")) and str(e.get("value", "")).lower() not in FLAG_VALUES]


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
                                    enforcement_level=EnforcementLevel.ADVISORY, severity=Severity.MEDIUM,
                                    remediation_steps=remediation)


POLICIES = [
    _policy("rds-encrypted-private-backed-up", "RDS storage is encrypted, not public, and backed up.", _rds,
            "Set storageEncrypted, publiclyAccessible=false and a backupRetentionPeriod of at least 1 day."),
    _policy("efs-encrypted", "EFS file systems are encrypted at rest.", _efs, "Set encrypted=true."),
    _policy("cloudfront-https-viewers", "CloudFront viewers use HTTPS with a current TLS policy.", _cloudfront,
            "Use redirect-to-https and minimumProtocolVersion TLSv1.2_2021."),
    _policy("ingress-not-open-to-world", "No ingress (the ALB's included) admits 0.0.0.0/0 or ::/0.", _open_ingress,
            "Admit CloudFront's origin-facing prefix list or a security group instead."),
    _policy("log-group-retention", "Log groups expire their logs.", _log_retention,
            "Set retentionInDays (settings.py logRetentionDays)."),
    _policy("ecr-scan-immutable", "ECR repositories scan on push and have immutable tags.", _ecr,
            "Set imageScanningConfiguration.scanOnPush and imageTagMutability=IMMUTABLE."),
    _policy("no-plain-secrets-in-env", "Secret-looking variables never sit in a container's plain environment.",
            _plain_secrets, "Move the value to Secrets Manager and reference it in `secrets`."),
    _policy("imdsv2-required", "Instances and launch templates require IMDSv2.", _imdsv2,
            "Set metadataOptions.httpTokens=required."),
]
