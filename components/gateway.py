"""The gateway: creates every unit, hands each only what it needs, and wires who may talk to whom."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.network import Network, NetworkArgs
from settings import Settings


@dataclass(frozen=True, kw_only=True)
class GatewayArgs:
    settings: Settings


class Gateway(pulumi.ComponentResource):
    network: Network

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:gateway:Gateway", name, None, opts)
        settings = args.settings
        account_id = aws.get_caller_identity(opts=pulumi.InvokeOptions(parent=self)).account_id

        self.network = Network(f"{name}-net", NetworkArgs(
            region=settings.region, account_id=account_id, vpc_cidr=settings.network.vpc_cidr,
            az_count=settings.network.az_count, nat_instance_type=settings.network.nat_instance_type,
            nat_ami_id=settings.network.nat_ami_id, flow_log_traffic=settings.network.flow_log_traffic,
            log_retention_days=settings.log_retention_days, instance_tags=settings.tags,
        ), pulumi.ResourceOptions(parent=self))

        self.register_outputs({"vpcId": self.network.vpc_id})
