"""ECS cluster (Fargate and Fargate Spot, Container Insights) and the private DNS namespace services register in."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    vpc_id: pulumi.Input[str]
    namespace: str
    # ECS's clusterSettings value: disabled, enabled (standard: per cluster and service) or enhanced (per task and
    # container too).
    container_insights: str


class Cluster(pulumi.ComponentResource):
    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    namespace_id: pulumi.Output[str]
    namespace: str
    # CreateService rejects a capacity provider strategy naming a provider not yet associated with the cluster.
    capacity_providers: pulumi.Resource

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:compute:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster = aws.ecs.Cluster(
            f"{name}-ecs", settings=[{"name": "containerInsights", "value": args.container_insights}], opts=child)
        self.capacity_providers = aws.ecs.ClusterCapacityProviders(
            f"{name}-capacity", cluster_name=cluster.name, capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategies=[{"capacity_provider": "FARGATE", "weight": 1, "base": 0}],
            opts=child)
        namespace = aws.servicediscovery.PrivateDnsNamespace(
            f"{name}-dns", name=args.namespace, vpc=args.vpc_id,
            description="Service discovery for the gateway's tasks", opts=child)
        self.arn, self.name, self.namespace_id = cluster.arn, cluster.name, namespace.id
        self.namespace = args.namespace
        self.register_outputs({"arn": self.arn, "namespaceId": self.namespace_id})
