"""LLM gateway on AWS: CloudFront -> ALB -> LiteLLM on Fargate -> Bedrock, with metrics and dashboards.

Read as the container diagram: stack settings in, one tagged AWS provider, the gateway, its outputs.
"""

import pulumi
import pulumi_aws as aws

from components.gateway import Gateway, GatewayArgs
from settings import load_settings, pulumi_stack_config

settings = load_settings(pulumi.get_project(), pulumi.get_stack(), pulumi_stack_config())

# Every taggable resource gets the stack's tags through this provider, passed down the component tree.
aws_provider = aws.Provider("aws", region=settings.region, default_tags={"tags": dict(settings.tags)})

gateway = Gateway("gw", GatewayArgs(settings=settings), pulumi.ResourceOptions(providers=[aws_provider]))

pulumi.export("vpcId", gateway.network.vpc_id)
pulumi.export("privateSubnetIds", gateway.network.private_subnet_ids)
pulumi.export("natEniId", gateway.network.nat_eni_id)
