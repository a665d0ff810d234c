"""Run the policy pack over a planned graph, offline (pulumi-policy#445 asks for this; no Pulumi tool does it).

Each resource reaches the policies as the engine would hand it over: camelCase props, the AWS provider's
defaultTags merged into `tags` the way pulumi-aws merges them at Check, its provider, and (for stack
policies) its property dependencies. Policy config follows `pulumi preview --policy-pack-config`:
{"<policy>": "<enforcement level>"} or {"<policy>": {"enforcementLevel": ..., <config>}}.
"""

from __future__ import annotations

import json
import sys
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from offline.engine import ACCOUNT_ID, ROOT_DIR, Graph, Resource

sys.path.insert(0, str(ROOT_DIR / "policies"))

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError

from aws_tags import effective_tags, receives_default_tags
from pack_policies import ALL_POLICIES

POLICY_DIR = ROOT_DIR / "policies"
RANK = {EnforcementLevel.DISABLED: 0, EnforcementLevel.ADVISORY: 1, EnforcementLevel.REMEDIATE: 2,
        EnforcementLevel.MANDATORY: 3}


@dataclass(frozen=True)
class Verdict:
    policy: str
    level: str
    resource: str
    message: str
    fix: str = ""


class PolicyConfigError(ValueError):
    """A stack's policy config lowers a policy without saying why."""


def stack_policy_config(stack: str) -> dict[str, Any]:
    path = POLICY_DIR / f"config.{stack}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _level_and_config(policy: Any, config: dict[str, Any]) -> tuple[EnforcementLevel, dict[str, Any]]:
    entry = config.get(policy.name, {})
    if isinstance(entry, str):
        entry = {"enforcementLevel": entry}
    level = EnforcementLevel(entry.get("enforcementLevel", policy.enforcement_level.value))
    if RANK[level] < RANK[policy.enforcement_level] and not str(entry.get("waiver", "")).strip():
        raise PolicyConfigError(f"policy config lowers {policy.name} to {level.value} without a reason; allowed: "
                                f'{{"{policy.name}": {{"enforcementLevel": "{level.value}", "waiver": "<why>"}}}}')
    schema = policy.config_schema.properties if policy.config_schema else {}
    settings = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
    settings.update({k: v for k, v in entry.items() if k != "enforcementLevel"})
    return level, settings


def _props(resource: Resource, provider: Resource | None) -> dict[str, Any]:
    props = dict(resource.inputs)
    if provider is not None and receives_default_tags(resource.type):
        props["tags"] = effective_tags(resource.type, props, provider.inputs)
    return props


def _policy_resources(graph: Graph) -> list[PolicyResource]:
    checked = [r for r in graph.resources if r.custom and not r.is_provider]
    built: dict[str, PolicyResource] = {}
    for resource in checked:
        provider = graph.provider_of(resource)
        built[resource.urn] = PolicyResource(
            resource_type=resource.type, props=_props(resource, provider), urn=resource.urn, name=resource.name,
            opts=PolicyResourceOptions(protect=resource.protect, ignore_changes=[], delete_before_replace=None,
                                       aliases=[], custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
                                       additional_secret_outputs=[], parent=resource.parent),
            provider=PolicyProviderResource(provider.type, provider.inputs, provider.urn, provider.name)
            if provider else None,
            parent=None, dependencies=[], property_dependencies={})
    for resource in checked:
        built[resource.urn].property_dependencies = {
            key: [built[urn] for urn in urns if urn in built] for key, urns in resource.property_dependencies.items()}
    return list(built.values())


def _apply(policy: Any, level: EnforcementLevel, settings: dict[str, Any],
           resources: list[PolicyResource]) -> list[Verdict]:
    found: list[Verdict] = []

    def report_on(urn: str) -> Any:
        return lambda message, reported=None: found.append(
            Verdict(policy.name, level.value, reported or urn, message, policy.remediation_steps or ""))

    if isinstance(policy, StackValidationPolicy):
        with suppress(_NotApplicableError):
            policy.validate(StackValidationArgs(resources, settings), report_on(""))
        return found
    for resource in resources:
        args = ResourceValidationArgs(resource.resource_type, resource.props, resource.urn, resource.name,
                                      resource.opts, resource.provider, settings)
        if policy.remediate and level == EnforcementLevel.REMEDIATE:
            if (fixed := policy.remediate(args)) is not None:
                resource.props = fixed
                found.append(Verdict(policy.name, "remediated", resource.urn, "tags added from policy config"))
        elif policy.validate:
            with suppress(_NotApplicableError):
                policy.validate(args, report_on(resource.urn))
    return found


def waivers(config: dict[str, Any]) -> dict[str, str]:
    """Policy -> the reason its stack runs it below mandatory."""
    return {name: entry["waiver"] for name, entry in config.items() if isinstance(entry, dict) and "waiver" in entry}


def with_account(config: dict[str, Any]) -> dict[str, Any]:
    """The mock account is the stack's account offline (a real stack sets accountId in its policy config)."""
    entry = config.get("bedrock-invoke-only", {})
    entry = {"enforcementLevel": entry} if isinstance(entry, str) else dict(entry)
    return {**config, "bedrock-invoke-only": {"accountId": ACCOUNT_ID, **entry}}


def evaluate(graph: Graph, config: dict[str, Any] | None = None) -> list[Verdict]:
    """Every verdict of the pack on the graph (remediations applied first, as the engine does)."""
    config = with_account(stack_policy_config(graph.stack) if config is None else config)
    resources = _policy_resources(graph)
    verdicts: list[Verdict] = []
    for policy in ALL_POLICIES:
        level, settings = _level_and_config(policy, config)
        if level != EnforcementLevel.DISABLED:
            verdicts += _apply(policy, level, settings, resources)
    return verdicts


def mandatory(verdicts: list[Verdict]) -> list[Verdict]:
    return [v for v in verdicts if v.level == EnforcementLevel.MANDATORY.value]
