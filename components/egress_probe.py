"""A heartbeat for egress: every 5 minutes a small Lambda function in the private subnets calls an AWS API over HTTPS
through the NAT instance, as the tasks do. When the NAT runs but does not forward, the call times out and the
invocation fails; Lambda's Errors metric (published by Lambda itself, not through the NAT) raises the alarm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import allow, policy_document, trust_policy

PROBE_CODE = '''"""Fail unless an AWS API answers over HTTPS through the NAT within a few seconds."""
import boto3
from botocore.config import Config

CLIENT = boto3.client("sts", config=Config(connect_timeout=5, read_timeout=5, retries={"max_attempts": 1}))


def handler(event, context):
    return CLIENT.get_caller_identity()["Account"]
'''
RUNTIME = "python3.13"
# Lambda makes and removes the function's interfaces with its role (Lambda Developer Guide, "Giving Lambda functions
# access to resources in an Amazon VPC": the actions of AWSLambdaVPCAccessExecutionRole). The Describe calls work only
# on "*"; creating an interface names the interface, its subnet and its group (Service Authorization Reference), so
# it is held to the probe's subnets and group; the rest act on interfaces of this account and region.
VPC_DESCRIBE = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
VPC_INTERFACES = ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]


@dataclass(frozen=True, kw_only=True)
class EgressProbeArgs:
    region: str
    account_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    # Its own group; the gateway lets it out on 443, like the tasks.
    security_group_id: pulumi.Input[str]
    log_retention_days: int
    # Lambda's interfaces move here when the probe's own group is deleted, so destroy need not wait for them.
    default_security_group_id: pulumi.Input[str]
    every_minutes: int = 5
    # The NAT and the route to it, and the group's rules: before that, the probe would fail for nothing.
    ready_after: Sequence[pulumi.Resource] = ()


class EgressProbe(pulumi.ComponentResource):
    function_name: pulumi.Output[str]
    every_seconds: int

    def __init__(self, name: str, args: EgressProbeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:network:EgressProbe", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-role", assume_role_policy=trust_policy("lambda.amazonaws.com"),
                            description="Egress probe: network interfaces in the VPC and its own logs", opts=child)
        ec2 = pulumi.Output.concat("arn:aws:ec2:", args.region, ":", args.account_id, ":")
        interfaces = pulumi.Output.concat(ec2, "network-interface/*")
        vpc_access = aws.iam.RolePolicy(f"{name}-vpc-access", role=role.name, policy=policy_document(
            allow(VPC_DESCRIBE, ["*"], sid="DescribeOnlyWorksOnEverything"),
            # The default group too: on destroy the provider moves the function's interfaces to it
            # (replace_security_groups_on_destroy), and Lambda checks the role may create them there.
            allow(["ec2:CreateNetworkInterface"], [
                interfaces, *(pulumi.Output.concat(ec2, "security-group/", group)
                              for group in (args.security_group_id, args.default_security_group_id)),
                *(pulumi.Output.concat(ec2, "subnet/", subnet) for subnet in args.subnet_ids)],
                sid="InterfacesInItsSubnetsAndGroups"),
            allow(VPC_INTERFACES, [interfaces], sid="ItsInterfaces")), opts=child)
        function = aws.lambda_.Function(
            f"{name}-function", runtime=RUNTIME, handler="index.handler", role=role.arn, timeout=15, memory_size=128,
            code=pulumi.AssetArchive({"index.py": pulumi.StringAsset(PROBE_CODE)}),
            vpc_config={"subnet_ids": list(args.subnet_ids), "security_group_ids": [args.security_group_id]},
            replace_security_groups_on_destroy=True, replacement_security_group_ids=[args.default_security_group_id],
            description="Calls STS through the NAT instance; failures mean no egress",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[vpc_access, *args.ready_after]))
        # The function's log group, made here so it has a retention; the role writes to it and to nothing else.
        logs = aws.cloudwatch.LogGroup(f"{name}-logs", name=function.name.apply(lambda n: f"/aws/lambda/{n}"),
                                       retention_in_days=args.log_retention_days, opts=child)
        may_log = aws.iam.RolePolicy(f"{name}-logs", role=role.name, policy=policy_document(
            allow(["logs:CreateLogStream", "logs:PutLogEvents"], [logs.arn.apply(lambda a: f"{a}:log-stream:*")],
                  sid="OwnLogGroup")), opts=child)
        # One try per beat: Lambda would retry a failed asynchronous invocation twice, smearing one failure over
        # three alarm periods.
        aws.lambda_.FunctionEventInvokeConfig(f"{name}-no-retries", function_name=function.name,
                                              maximum_retry_attempts=0, opts=child)
        schedule = aws.cloudwatch.EventRule(f"{name}-schedule", schedule_expression=f"rate({args.every_minutes} "
                                            "minutes)", description="Egress probe heartbeat", opts=child)
        aws.lambda_.Permission(f"{name}-invoke", action="lambda:InvokeFunction", function=function.name,
                               principal="events.amazonaws.com", source_arn=schedule.arn, opts=child)
        # Invoked only once its log group exists, or Lambda would create the group first (without a retention).
        aws.cloudwatch.EventTarget(f"{name}-target", rule=schedule.name, arn=function.arn,
                                   opts=pulumi.ResourceOptions(parent=self, depends_on=[logs, may_log]))
        self.function_name, self.every_seconds = function.name, args.every_minutes * 60
        self.register_outputs({"functionName": self.function_name})
