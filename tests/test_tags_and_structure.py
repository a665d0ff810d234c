"""Every taggable resource carries the stack's tags; every component follows the component rules."""

from __future__ import annotations

from offline.engine import Graph
from settings import PROJECT

from aws_tags import effective_tags, is_taggable

REQUIRED = ("Project", "Environment", "Owner", "CostCenter", "ManagedBy")


def test_every_taggable_resource_carries_the_stack_tags(stack: Graph) -> None:
    taggable = [r for r in stack.resources if r.custom and is_taggable(r.type)]
    assert len(taggable) > 10
    for resource in taggable:
        provider = stack.provider_of(resource)
        tags = effective_tags(resource.type, resource.inputs, provider.inputs if provider else None)
        missing = [k for k in REQUIRED if not tags.get(k)]
        assert not missing, f"{resource.type} {resource.name} lacks {missing}"
        assert tags["Environment"] == stack.stack and tags["ManagedBy"] == "pulumi"


def test_every_aws_resource_uses_the_tagged_provider(stack: Graph) -> None:
    for resource in stack.resources:
        if resource.custom and resource.type.startswith("aws:"):
            provider = stack.provider_of(resource)
            assert provider is not None and provider.name in ("aws", "aws-us-east-1"), resource.name


def test_nat_instances_are_tagged_at_launch(stack: Graph) -> None:
    group = stack.one("aws:autoscaling/group:Group")
    assert all(t["propagateAtLaunch"] for t in group.inputs["tags"])
    template = stack.one("aws:ec2/launchTemplate:LaunchTemplate")
    kinds = {spec["resourceType"]: spec["tags"] for spec in template.inputs["tagSpecifications"]}
    assert set(kinds) == {"instance", "volume", "network-interface"}
    assert all(set(REQUIRED) <= set(tags) for tags in kinds.values())


def test_components_follow_the_component_rules(stack: Graph) -> None:
    components = [r for r in stack.resources if not r.custom and not r.is_provider]
    assert components
    for component in components:
        project, area, name = component.type.split(":")
        assert project == PROJECT and area and name[0].isupper()
        for child in stack.children(component):
            assert child.name.startswith(f"{component.name}-"), child.name
