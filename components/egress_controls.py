"""Egress controls: which names the VPC's resolver answers, and the path model calls take.

- Allow list: Route 53 Resolver DNS Firewall on the VPC. One rule answers the names the gateway needs (`allowed_names`
  below, each with who needs it); the next answers every other name NXDOMAIN, so a blocked call fails at once rather
  than after a timeout. The allow rule trusts the CNAME chain behind an allowed name (AWS's names resolve through
  others: S3's layer bucket, for one); every other rule inspects it. Fail closed: when the firewall cannot answer, the
  resolver answers SERVFAIL, not the name (the AWS default, written out). DNS filtering does not stop a connection to
  a literal address, and the security groups still let HTTPS out through the NAT (docs/security.md, residual risks).
- Bedrock runtime endpoint: an interface endpoint in the private subnets with private DNS, so the Bedrock runtime name
  resolves to addresses in the VPC and model calls never touch the NAT instance. Its group admits only what the gateway
  grants (LiteLLM); its policy allows only this account's invocations of the served models through the stack's
  inference profiles, as the task role does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

# Route 53 Resolver evaluates a VPC's rule groups and their rules lowest priority first; the first match decides.
ALLOW_PRIORITY, BLOCK_PRIORITY = 100, 200
# An association's priority: 100 to 9900 (AssociateFirewallRuleGroup); room on both sides for others' groups.
ASSOCIATION_PRIORITY = 1000


def compute_domain(region: str) -> str:
    """The VPC's own host names (ip-10-0-0-1.<domain>), answered by the resolver, never by the internet."""
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


def allowed_names(*, region: str, bedrock_region: str, account_id: str, namespace: str,
                  shared_cache: bool) -> dict[str, str]:
    """Every name the private subnets may resolve -> who resolves it and why."""
    aws_name = f"{region}.amazonaws.com"
    layers = f"prod-{region}-starport-layer-bucket"
    names = {
        # Fargate 1.4 pulls the image, fetches secrets and ships logs through the task's own interface (ECS
        # Developer Guide, "Fargate task networking"); layers come from ECR's S3 bucket, named both ways in pull logs.
        f"api.ecr.{aws_name}": "every task: the image's manifest (ECR API)",
        f"{account_id}.dkr.ecr.{aws_name}": "every task: the image (ECR registry)",
        f"{layers}.s3.{aws_name}": "every task: image layers (ECR's S3 bucket, by the S3 gateway endpoint)",
        f"{layers}.s3.amazonaws.com": "every task: image layers (the bucket's global name)",
        f"secretsmanager.{aws_name}": "every task: its secrets",
        f"logs.{aws_name}": "every task: container logs (awslogs)",
        f"bedrock-runtime.{bedrock_region}.amazonaws.com": "LiteLLM: Claude on Bedrock, and CountTokens",
        f"sns.{aws_name}": "Grafana: its SNS contact point",
        f"sts.{aws_name}": "the egress probe: STS GetCallerIdentity (boto3's regional default)",
        "sts.amazonaws.com": "the egress probe: STS GetCallerIdentity (an SDK on the legacy global endpoint)",
        f"ec2.{aws_name}": "the NAT instance's boot: attach its interface, move the Elastic IP",
        f"ssm.{aws_name}": "the NAT instance: Session Manager's agent",
        f"ssmmessages.{aws_name}": "the NAT instance's sessions, and ECS Exec",
        f"ec2messages.{aws_name}": "the NAT instance: Session Manager's agent",
        f"*.{namespace}": "VictoriaMetrics and Grafana: the services' Cloud Map names",
        f"*.{compute_domain(region)}": "the VPC's own host names",
        # The VPC's own services by their endpoints' domains, not their exact names: a restore or a replacement
        # changes the name, and the old one must keep resolving until the tasks have moved. These names answer
        # with addresses in their VPCs; the security groups let the tasks reach only this stack's.
        f"*.{region}.rds.amazonaws.com": "LiteLLM and the migration task: the database",
        f"*.efs.{aws_name}": "VictoriaMetrics: the metrics volume's mount",
    }
    if shared_cache:
        # ElastiCache names carry a short region code (master.<id>.<hash>.usw1.cache.amazonaws.com) that AWS does
        # not publish per region, so the wildcard stays at the service's domain.
        names["*.cache.amazonaws.com"] = "LiteLLM: the shared Valkey"
    return names


@dataclass(frozen=True, kw_only=True)
class BedrockEndpointArgs:
    subnet_ids: Sequence[pulumi.Input[str]]
    # Zones the subnets are in, in the same order: the endpoint goes only where the service is offered.
    availability_zones: Sequence[str]
    # The endpoint's own group; the gateway decides who it admits.
    security_group_id: pulumi.Input[str]
    # The same statements the task role holds (components/bedrock.py); here for any principal of this account.
    invoke_statements: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, kw_only=True)
class EgressControlsArgs:
    vpc_id: pulumi.Input[str]
    region: str
    account_id: str
    # None: every name resolves (egress.mode: open).
    allowed_names: Mapping[str, str] | None
    bedrock_endpoint: BedrockEndpointArgs | None = None


class EgressControls(pulumi.ComponentResource):
    # Where model calls go: the endpoint's DNS entries, or None when they leave through the NAT instance.
    bedrock_endpoint_id: pulumi.Output[str] | None
    # What must exist before the tasks call out: the firewall's association and the endpoint.
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: EgressControlsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:network:EgressControls", name, None, opts)
        self._name, self._args = name, args
        self.ready = []
        if args.allowed_names is not None:
            self.ready += self._dns_firewall(args.allowed_names)
        self.bedrock_endpoint_id = None
        if args.bedrock_endpoint is not None:
            endpoint = self._bedrock_endpoint(args.bedrock_endpoint)
            self.bedrock_endpoint_id = endpoint.id
            self.ready.append(endpoint)
        self.register_outputs({"bedrockEndpointId": self.bedrock_endpoint_id})

    def _child(self, **kwargs: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _dns_firewall(self, names: Mapping[str, str]) -> list[pulumi.Resource]:
        """The rules exist before the association makes them apply (a group associated with only its block rule
        would answer no name at all), and a replacement goes before its successor takes its priority (AWS refuses
        two rules of a group, or two associations of a VPC, at one priority)."""
        replace_first = self._child(delete_before_replace=True)
        allowed = aws.route53.ResolverFirewallDomainList(f"{self._name}-allowed", domains=sorted(names),
                                                         opts=self._child())
        everything = aws.route53.ResolverFirewallDomainList(f"{self._name}-everything", domains=["*"],
                                                            opts=self._child())
        group = aws.route53.ResolverFirewallRuleGroup(f"{self._name}-egress", opts=self._child())
        allow = aws.route53.ResolverFirewallRule(
            f"{self._name}-allow", firewall_rule_group_id=group.id, firewall_domain_list_id=allowed.id,
            priority=ALLOW_PRIORITY, action="ALLOW", firewall_domain_redirection_action="TRUST_REDIRECTION_DOMAIN",
            opts=replace_first)
        block = aws.route53.ResolverFirewallRule(
            f"{self._name}-block-rest", firewall_rule_group_id=group.id, firewall_domain_list_id=everything.id,
            priority=BLOCK_PRIORITY, action="BLOCK", block_response="NXDOMAIN", opts=replace_first)
        aws.route53.ResolverFirewallConfig(f"{self._name}-fail-closed", resource_id=self._args.vpc_id,
                                           firewall_fail_open="DISABLED", opts=self._child())
        association = aws.route53.ResolverFirewallRuleGroupAssociation(
            f"{self._name}-egress", firewall_rule_group_id=group.id, vpc_id=self._args.vpc_id,
            priority=ASSOCIATION_PRIORITY, opts=self._child(depends_on=[allow, block], delete_before_replace=True))
        # A name added later is in the list before a task that needs it rolls out.
        return [allowed, allow, association]

    def _bedrock_endpoint(self, endpoint: BedrockEndpointArgs) -> aws.ec2.VpcEndpoint:
        service_name = f"com.amazonaws.{self._args.region}.bedrock-runtime"
        try:
            offered = set(aws.ec2.get_vpc_endpoint_service(service_name=service_name,
                                                           opts=pulumi.InvokeOptions(parent=self)).availability_zones)
        except Exception as error:  # the provider's own error for a service the region does not offer
            raise ValueError(f"llm-gateway:egress.bedrockEndpoint: {service_name} is not offered here ({error}); "
                             "allowed: false") from None
        subnets = [s for s, zone in zip(endpoint.subnet_ids, endpoint.availability_zones, strict=True)
                   if zone in offered]
        if not subnets:
            raise ValueError(f"llm-gateway:egress.bedrockEndpoint: {service_name} is offered in "
                             f"{sorted(offered)}, none of the stack's zones {list(endpoint.availability_zones)}; "
                             "allowed: false, or zones where it is offered")
        return aws.ec2.VpcEndpoint(
            f"{self._name}-bedrock-runtime", vpc_id=self._args.vpc_id, vpc_endpoint_type="Interface",
            service_name=service_name, private_dns_enabled=True, subnet_ids=subnets,
            security_group_ids=[endpoint.security_group_id],
            policy=json.dumps({"Version": "2012-10-17", "Statement": [
                _for_this_account(s, self._args.account_id) for s in endpoint.invoke_statements]}),
            tags={"Name": f"{self._name}-bedrock-runtime"}, opts=self._child())


def _for_this_account(statement: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """An identity statement as an endpoint policy statement: any principal, as long as it is this account's."""
    condition = dict(statement.get("Condition", {}))
    condition["StringEquals"] = {**condition.get("StringEquals", {}), "aws:PrincipalAccount": account_id}
    return {**statement, "Principal": {"AWS": "*"}, "Condition": condition}
