"""Valkey on ElastiCache, shared by LiteLLM's tasks: spend counters, rate-limit windows and key-cache invalidation, so
that budgets and revocations hold across tasks (LiteLLM keeps them per process otherwise).

One shard, cluster mode off (LiteLLM 1.108.7 connects with a plain Redis client unless given cluster nodes), in the
private subnets. TLS is required in transit and LiteLLM must present the AUTH token (ElastiCache allows AUTH only with
TLS, on node-based groups; Serverless would need cluster-aware clients and RBAC users instead). Encrypted at rest.
Nothing in it needs a backup: spend is written to the database by each task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.naming import stack_unique

VALKEY_PORT = 6379


@dataclass(frozen=True, kw_only=True)
class CacheArgs:
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    node_type: str
    engine_version: str
    # A replica in another zone, promoted automatically if the primary fails.
    multi_az: bool
    # A Pulumi secret; ElastiCache allows 16-128 printable characters, of the specials only ! & # $ ^ < > -.
    auth_token: pulumi.Input[str]
    log_retention_days: int


class Cache(pulumi.ComponentResource):
    address: pulumi.Output[str]
    port: int

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:data:Cache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        subnets = aws.elasticache.SubnetGroup(f"{name}-subnets", subnet_ids=list(args.subnet_ids),
                                              description="Private subnets of the gateway", opts=child)
        # ElastiCache delivers logs the vended way: a group outside /aws/vendedlogs/ is added to the account's
        # shared CloudWatch Logs resource policy (5120 characters at most), which can make creation fail.
        engine_log = aws.cloudwatch.LogGroup(
            f"{name}-engine-log", name=f"/aws/vendedlogs/elasticache/{stack_unique('valkey-engine')}",
            retention_in_days=args.log_retention_days, opts=child)
        group = aws.elasticache.ReplicationGroup(
            f"{name}-valkey", description="LiteLLM's shared counters", engine="valkey",
            engine_version=args.engine_version, node_type=args.node_type, port=VALKEY_PORT,
            num_cache_clusters=2 if args.multi_az else 1, automatic_failover_enabled=args.multi_az,
            multi_az_enabled=args.multi_az, subnet_group_name=subnets.name, security_group_ids=[args.security_group_id],
            at_rest_encryption_enabled=True, transit_encryption_enabled=True, transit_encryption_mode="required",
            auth_token=args.auth_token, auto_minor_version_upgrade=True, snapshot_retention_limit=0,
            log_delivery_configurations=[aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                destination=engine_log.name, destination_type="cloudwatch-logs", log_format="json",
                log_type="engine-log")],
            opts=child)
        self.address, self.port = group.primary_endpoint_address, VALKEY_PORT
        self.register_outputs({"address": self.address})
