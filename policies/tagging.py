"""Tagging: every taggable AWS resource carries the required keys with non-empty values.

Which types are taggable comes from the pulumi-aws SDK (see aws_tags.py), not from a list kept by hand.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from aws_tags import effective_tags, is_taggable, own_tags
from common import config_value, skip_unknowns

DEFAULT_REQUIRED = ["Project", "Environment", "Owner", "CostCenter", "ManagedBy"]
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"


@skip_unknowns
def _validate_required_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_taggable(args.resource_type):
        return
    tags = effective_tags(args.resource_type, args.props, args.provider.props if args.provider else None)
    missing = [k for k in config_value(args, "requiredTags", DEFAULT_REQUIRED) if not str(tags.get(k) or "").strip()]
    if missing:
        report(f"{args.resource_type} '{args.name}' lacks the tags {missing} (its own tags and the provider's "
               f"defaultTags together)")


def _add_missing_tags(args: ResourceValidationArgs) -> dict[str, Any] | None:
    additions: dict[str, str] = config_value(args, "tags", {})
    if not additions or not is_taggable(args.resource_type):
        return None
    props = dict(args.props)
    provider_props = dict(args.provider.props) if args.provider else None
    present = effective_tags(args.resource_type, props, provider_props)
    missing = {k: v for k, v in additions.items() if not present.get(k)}
    if not missing:
        return None
    if args.resource_type == AUTOSCALING_GROUP:  # tags are a list of {key, value, propagateAtLaunch}
        props["tags"] = [*(props.get("tags") or []),
                         *({"key": k, "value": v, "propagateAtLaunch": True} for k, v in missing.items())]
    else:
        props["tags"] = {**own_tags(props), **missing}
    return props


TAG_SCHEMA = PolicyConfigSchema(properties={
    "requiredTags": {"type": "array", "items": {"type": "string"}, "default": DEFAULT_REQUIRED,
                     "description": "Tag keys every taggable resource must carry with a non-empty value."},
})

REQUIRED_TAGS = ResourceValidationPolicy(
    name="required-tags",
    description="Every taggable AWS resource carries the required tag keys with non-empty values.",
    validate=_validate_required_tags,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    config_schema=TAG_SCHEMA,
    remediation_steps="Pass the stack's tags to the AWS provider as default_tags (settings.py `tags`) and make "
                      "sure the resource uses that provider; auto scaling groups need their own tags list.",
)

ADD_MISSING_TAGS = ResourceValidationPolicy(
    name="add-missing-tags",
    description="Adds tags from policy config to taggable resources that lack them (remediation).",
    remediate=_add_missing_tags,
    enforcement_level=EnforcementLevel.REMEDIATE,
    severity=Severity.LOW,
    config_schema=PolicyConfigSchema(properties={
        "tags": {"type": "object", "additionalProperties": {"type": "string"}, "default": {},
                 "description": "Tags to add where missing, e.g. {\"CostCenter\": \"platform\"}."}}),
    remediation_steps="Set the tags in the stack config so the provider applies them instead.",
)

POLICIES = [REQUIRED_TAGS, ADD_MISSING_TAGS]
