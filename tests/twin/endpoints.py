"""Who calls whom at run time: the AWS endpoints each unit reaches, by name, and the address each name has in the
twin's internet."""

from __future__ import annotations

import ipaddress

from tests.twin.model import S3_STAND_IN

# On Fargate platform 1.4.0 the task's own interface pulls the image (ECR API, registry, layers from S3), fetches
# secrets and ships logs (ECS Developer Guide, "Fargate task networking"; "Amazon ECR interface VPC endpoints").
ECS_TASK = ("api.ecr.{region}.amazonaws.com", "{account}.dkr.ecr.{region}.amazonaws.com",
            "secretsmanager.{region}.amazonaws.com", "logs.{region}.amazonaws.com")
# ECR serves image layers from S3 (prod-<region>-starport-layer-bucket), through the S3 gateway endpoint.
ECR_LAYERS = "prod-{region}-starport-layer-bucket.s3.{region}.amazonaws.com"
CALLS = {
    "litellm": (*ECS_TASK, "bedrock-runtime.{bedrock_region}.amazonaws.com"),
    "migration": ECS_TASK,
    # Grafana's SNS contact point (images/grafana/provisioning/alerting/contact-points.yaml).
    "grafana": (*ECS_TASK, "sns.{region}.amazonaws.com"),
    "victoriametrics": ECS_TASK,
    # components/egress_probe.py: STS GetCallerIdentity, through the NAT.
    "egress-probe": ("sts.{region}.amazonaws.com",),
}
# Names nothing in the gateway needs, served in the twin's internet: the allow list must refuse them.
OUTSIDE = ("example.com", "raw.githubusercontent.com", "bedrock-mantle.us-east-1.api.aws")
# fck-nat's boot (and the user data) call EC2 from the NAT instance itself.
NAT_CALLS = ("ec2.{region}.amazonaws.com",)


def calls_of(unit: str, region: str, bedrock_region: str, account: str) -> list[str]:
    return [n.format(region=region, bedrock_region=bedrock_region, account=account) for n in CALLS.get(unit, ())]


def aws_names(region: str, bedrock_region: str, account: str) -> dict[str, str]:
    """Every name the twin's internet serves (AWS's, and a few outside ones) -> its address there (S3 inside the S3
    stand-in range)."""
    names = sorted({n for unit in CALLS for n in calls_of(unit, region, bedrock_region, account)}
                   | {n.format(region=region) for n in NAT_CALLS} | set(OUTSIDE))
    addresses = ipaddress.ip_network("198.18.1.0/24").hosts()
    table = {name: str(next(addresses)) for name in names}
    table[ECR_LAYERS.format(region=region)] = str(ipaddress.ip_network(S3_STAND_IN).network_address + 10)
    return table
