"""LLM gateway on AWS: CloudFront -> ALB -> LiteLLM on Fargate -> Bedrock, with metrics and dashboards.

Read as the container diagram: stack settings in, tagged AWS providers, the gateway, its outputs.
"""

import pulumi
import pulumi_aws as aws

from components.gateway import GRAFANA_PORT, LITELLM_PORT, Gateway, GatewayArgs
from settings import load_settings, pulumi_stack_config

settings = load_settings(pulumi.get_project(), pulumi.get_stack(), pulumi_stack_config())

# Every taggable resource gets the stack's tags through these providers, passed down the component tree.
default_tags = {"tags": dict(settings.tags)}
aws_provider = aws.Provider("aws", region=settings.region, default_tags=default_tags)
edge_provider = aws.Provider("aws-us-east-1", region="us-east-1", default_tags=default_tags)

gateway = Gateway("gw", GatewayArgs(settings=settings, edge_provider=edge_provider),
                  pulumi.ResourceOptions(providers=[aws_provider]))

pulumi.export("gatewayUrl", gateway.cdn.url)
pulumi.export("grafanaUrl", pulumi.Output.concat(gateway.cdn.url, "/grafana/"))
pulumi.export("distributionId", gateway.cdn.distribution_id)
pulumi.export("vpcId", gateway.network.vpc_id)
pulumi.export("natEniId", gateway.network.nat_eni_id)
pulumi.export("egressIp", gateway.network.nat_egress_ip)
# The operators' way in (python -m tools.tunnel): Session Manager on the NAT instance, forwarding to these.
pulumi.export("natGroupName", gateway.network.nat_group_name)
pulumi.export("adminEndpoints", {"litellm": f"{gateway.litellm.hostname}:{LITELLM_PORT}",
                                 "grafana": f"{gateway.grafana.hostname}:{GRAFANA_PORT}"})
pulumi.export("litellmMasterKeySecretArn", gateway.secrets.arns["litellm-master-key"])
pulumi.export("alarmTopicArn", gateway.alert_topic.arn)
pulumi.export("grafanaAdminPasswordSecretArn", gateway.secrets.arns["grafana-admin-password"])
# What the runbooks (docs/operations.md) act on: the database to restore, the cluster and services to inspect or scale.
pulumi.export("databaseIdentifier", gateway.database.identifier)
pulumi.export("ecsCluster", gateway.cluster.name)
services = {key: getattr(gateway, key) for key in ("litellm", "grafana", "victoriametrics")}
pulumi.export("ecsServices", {key: service.service_name for key, service in services.items()})
pulumi.export("logGroups", {key: service.log_group_name for key, service in services.items()})
# The ALB's own address (internal with a VPC origin): tools.smoke checks that it refuses traffic skipping CloudFront.
pulumi.export("originUrl", gateway.origin_url)
