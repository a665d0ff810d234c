"""The probe corpus: every policy catches each bad shape and passes each near miss, called directly and through
the pack served over gRPC exactly as the Pulumi engine talks to it."""

from __future__ import annotations

import inspect
from collections import Counter
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

from offline.engine import ACCOUNT_ID
from tests.policy_probes import BAD, GOOD, STACK_BAD, STACK_GOOD, Probe, StackProbe
from tests.test_policies import OPTIONS, POLICIES, PROVIDER, analyze, served_pack  # noqa: F401 - fixture

import aws_tags
import type_coverage
from pack_policies import ALL_POLICIES
from tagging import DEFAULT_REQUIRED

CONFIG = {"bedrock-invoke-only": {"accountId": ACCOUNT_ID}}


def config_of(policy: str) -> dict[str, Any]:
    schema = POLICIES[policy].config_schema
    defaults = {k: v["default"] for k, v in schema.properties.items() if "default" in v} if schema else {}
    return {**defaults, **CONFIG.get(policy, {})}


def direct(probe: Probe) -> list[str]:
    messages: list[str] = []
    args = ResourceValidationArgs(probe.type, unknown_checking_proxy(probe.props), f"urn:{probe.name}", probe.name,
                                  OPTIONS, PROVIDER if probe.provider else None, config_of(probe.policy))
    POLICIES[probe.policy].validate(args, lambda message, urn=None: messages.append(message))
    return messages


def stack_resources(probe: StackProbe) -> list[PolicyResource]:
    built = {name: PolicyResource(type_, props, f"urn:{name}", name, OPTIONS, PROVIDER, None, [], {})
             for name, type_, props, _ in probe.resources}
    for name, _, _, deps in probe.resources:
        built[name].property_dependencies = {key: [built[d] for d in names] for key, names in deps.items()}
    return list(built.values())


def direct_stack(probe: StackProbe) -> list[str]:
    messages: list[str] = []
    POLICIES[probe.policy].validate(StackValidationArgs(stack_resources(probe), config_of(probe.policy)),
                                    lambda message, urn=None: messages.append(message))
    return messages


def test_the_corpus_is_large_and_covers_every_policy() -> None:
    """At least 45 bad and 25 good; each policy that judges has three bad shapes and two near misses."""
    assert len(BAD) + len(STACK_BAD) >= 45 and len(GOOD) + len(STACK_GOOD) >= 25
    bad = Counter(p.policy for p in [*BAD, *STACK_BAD])
    good = Counter(p.policy for p in [*GOOD, *STACK_GOOD])
    judging = {p.name for p in ALL_POLICIES} - {"add-missing-tags"}
    assert all(bad[name] >= 3 and good[name] >= 2 for name in judging), (bad, good)


@pytest.mark.parametrize("probe", BAD, ids=[f"{p.policy}:{p.name}" for p in BAD])
def test_each_bad_shape_is_caught(probe: Probe) -> None:
    assert direct(probe), f"{probe.policy} let {probe.name} through"


@pytest.mark.parametrize("probe", GOOD, ids=[f"{p.policy}:{p.name}" for p in GOOD])
def test_each_near_miss_passes(probe: Probe) -> None:
    assert direct(probe) == []


@pytest.mark.parametrize("probe", STACK_BAD + STACK_GOOD, ids=[f"{p.policy}:{p.name}" for p in STACK_BAD + STACK_GOOD])
def test_stack_policies_judge_each_small_stack(probe: StackProbe) -> None:
    assert bool(direct_stack(probe)) is (probe in STACK_BAD)


def test_an_alert_on_every_name_is_no_block() -> None:
    """ALERT answers the query: a group whose last rule alerts on `*` blocks nothing, whatever else it is refused
    for (the same rule also lets every name resolve)."""
    (probe,) = [p for p in STACK_BAD if p.name == "alert-instead-of-block"]
    assert any("blocks every name not allowed" in message for message in direct_stack(probe))


def test_the_default_required_tags_are_pinned() -> None:
    """The seed's tag set: an outside mutation once dropped CostCenter and no test noticed."""
    assert DEFAULT_REQUIRED == ["Project", "Environment", "Owner", "CostCenter", "ManagedBy"]
    assert POLICIES["required-tags"].config_schema.properties["requiredTags"]["default"] == DEFAULT_REQUIRED


def configure(pack: Any) -> None:
    properties = struct_pb2.Struct()
    properties.update(CONFIG["bedrock-invoke-only"])
    pack.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
        "bedrock-invoke-only": analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY,
                                                         properties=properties)}), timeout=10)


def test_the_served_pack_judges_the_corpus_the_same_way(served_pack: Any) -> None:  # noqa: F811 - fixture
    configure(served_pack)
    missed = [p.name for p in BAD if p.policy not in analyze(served_pack, p.type, p.props, p.provider)]
    flagged = [p.name for p in GOOD if p.policy in analyze(served_pack, p.type, p.props, p.provider)]
    assert not missed and not flagged


def analyze_stack(pack: Any, probe: StackProbe) -> list[str]:
    resources = []
    for resource in stack_resources(probe):
        properties = struct_pb2.Struct()
        properties.update(resource.props)
        resources.append(analyzer_pb2.AnalyzerResource(
            type=resource.resource_type, properties=properties, urn=resource.urn, name=resource.name,
            propertyDependencies={key: analyzer_pb2.AnalyzerPropertyDependencies(urns=[d.urn for d in deps])
                                  for key, deps in resource.property_dependencies.items()}))
    return [d.policyName for d in pack.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources),
                                                    timeout=10).diagnostics]


def test_the_served_pack_judges_the_small_stacks_the_same_way(served_pack: Any) -> None:  # noqa: F811
    for probe in STACK_BAD + STACK_GOOD:
        assert (probe.policy in analyze_stack(served_pack, probe)) is (probe in STACK_BAD), probe.name


# Inputs through which a resource can be opened to others or run with more rights, read from the pulumi-aws SDK.
RISKY_INPUTS = ("policy", "acl", "principal", "container_definitions", "assume_role_policy")
# Types taking one of them for something else: what a lifecycle rule keeps, what an endpoint lets through
# (Principal * is its normal form: it grants nothing by itself).
NOT_ACCESS = {"aws:ecr/lifecyclePolicy:LifecyclePolicy": "image lifecycle rules",
              "aws:ec2/vpcEndpoint:VpcEndpoint": "an endpoint policy narrows, it does not grant"}


def test_coverage_calls_reviewed_only_types_whose_risky_shapes_a_policy_catches() -> None:
    """Every type coverage lists as reviewed whose SDK class takes a policy, an ACL, a principal or container
    definitions has a bad probe of that shape that some policy catches (the corpus test runs them)."""
    risky = {t for t in type_coverage.JUDGED if (cls := aws_tags._sdk_class(t)) is not None and set(RISKY_INPUTS)
             & set(inspect.signature(cls._internal_init).parameters)} - set(NOT_ACCESS)
    caught = {p.type for p in BAD}
    assert len(risky) >= 14 and risky <= caught, sorted(risky - caught)
