"""Alarms on what breaks a gateway for its users, sent to one SNS topic (and an e-mail address if given).

The topic is not KMS-encrypted: CloudWatch cannot publish to a topic under the AWS-managed SNS key, and the
notifications carry no prompts or keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

FIVE_MINUTES = 300
# Prisma's messages for a database LiteLLM cannot use (Prisma error reference: P1000 authentication failed, P1001
# can't reach the server, P1017 the server closed the connection). Spotted in LiteLLM's log: a readiness signal on
# the database that does not drain the tasks (their health check stays database-free).
DATABASE_ERROR_PATTERN = ('?"Authentication failed against database server" ?"Can\'t reach database server" '
                          '?"Server has closed the connection"')


@dataclass(frozen=True, kw_only=True)
class AlarmsArgs:
    alb_arn_suffix: pulumi.Input[str]
    # Service key -> target group ARN suffix, for the services behind the ALB.
    target_group_arn_suffixes: Mapping[str, pulumi.Input[str]]
    database_identifier: pulumi.Input[str]
    nat_group_name: pulumi.Input[str]
    # LiteLLM's log group, searched for database connection errors; their count lands in `metric_namespace`.
    litellm_log_group_name: pulumi.Input[str]
    metric_namespace: str
    email: str | None = None


@dataclass(frozen=True, kw_only=True)
class _Alarm:
    key: str
    description: str
    namespace: str
    metric: str
    dimensions: Mapping[str, pulumi.Input[str]]
    statistic: str
    comparison: str
    threshold: float
    periods: int = 3
    period: int = 60
    missing: str = "notBreaching"


class Alarms(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:observability:Alarms", name, None, opts)
        topic = aws.sns.Topic(f"{name}-topic", display_name="LLM gateway alarms",
                              opts=pulumi.ResourceOptions(parent=self))
        if args.email:
            aws.sns.TopicSubscription(f"{name}-email", topic=topic.arn, protocol="email", endpoint=args.email,
                                      opts=pulumi.ResourceOptions(parent=self))
        aws.cloudwatch.LogMetricFilter(
            f"{name}-db-errors", log_group_name=args.litellm_log_group_name, pattern=DATABASE_ERROR_PATTERN,
            metric_transformation={"name": "DatabaseConnectionErrors", "namespace": args.metric_namespace,
                                   "value": "1", "default_value": "0"},
            opts=pulumi.ResourceOptions(parent=self))
        for alarm in _alarms(args):
            aws.cloudwatch.MetricAlarm(
                f"{name}-{alarm.key}", alarm_description=alarm.description, namespace=alarm.namespace,
                metric_name=alarm.metric, dimensions=dict(alarm.dimensions), statistic=alarm.statistic,
                comparison_operator=alarm.comparison, threshold=alarm.threshold, period=alarm.period,
                evaluation_periods=alarm.periods, treat_missing_data=alarm.missing,
                alarm_actions=[topic.arn], ok_actions=[topic.arn], opts=pulumi.ResourceOptions(parent=self))
        self.topic_arn = topic.arn
        self.register_outputs({"topicArn": self.topic_arn})


def _alarms(args: AlarmsArgs) -> list[_Alarm]:
    alb = {"LoadBalancer": args.alb_arn_suffix}
    alarms = [
        _Alarm(key="alb-5xx", description="The ALB itself answers 5xx (no healthy target, timeouts)",
               namespace="AWS/ApplicationELB", metric="HTTPCode_ELB_5XX_Count", dimensions=alb, statistic="Sum",
               comparison="GreaterThanThreshold", threshold=10, periods=1, period=FIVE_MINUTES),
        _Alarm(key="db-cpu", description="PostgreSQL CPU above 80% for 15 minutes", namespace="AWS/RDS",
               metric="CPUUtilization", dimensions={"DBInstanceIdentifier": args.database_identifier},
               statistic="Average", comparison="GreaterThanThreshold", threshold=80, period=FIVE_MINUTES),
        _Alarm(key="db-storage", description="PostgreSQL has under 2 GiB free", namespace="AWS/RDS",
               metric="FreeStorageSpace", dimensions={"DBInstanceIdentifier": args.database_identifier},
               statistic="Minimum", comparison="LessThanThreshold", threshold=2 * 1024**3, periods=1,
               period=FIVE_MINUTES),
        _Alarm(key="db-connection-errors", description="LiteLLM cannot use its database (unreachable, password "
               "refused, connection closed): keys, budgets and spend fail", namespace=args.metric_namespace,
               metric="DatabaseConnectionErrors", dimensions={}, statistic="Sum", comparison="GreaterThanThreshold",
               threshold=0, periods=1, period=FIVE_MINUTES),
        _Alarm(key="nat-down", description="No NAT instance in service: tasks cannot reach Bedrock",
               namespace="AWS/AutoScaling", metric="GroupInServiceInstances",
               dimensions={"AutoScalingGroupName": args.nat_group_name}, statistic="Minimum",
               comparison="LessThanThreshold", threshold=1, missing="breaching"),
    ]
    for service, target_group in args.target_group_arn_suffixes.items():
        dimensions = {**alb, "TargetGroup": target_group}
        alarms += [
            _Alarm(key=f"{service}-unhealthy", description=f"{service}: no healthy task behind the ALB",
                   namespace="AWS/ApplicationELB", metric="HealthyHostCount", dimensions=dimensions,
                   statistic="Minimum", comparison="LessThanThreshold", threshold=1, missing="breaching"),
            _Alarm(key=f"{service}-5xx", description=f"{service} answers 5xx", namespace="AWS/ApplicationELB",
                   metric="HTTPCode_Target_5XX_Count", dimensions=dimensions, statistic="Sum",
                   comparison="GreaterThanThreshold", threshold=10, periods=1, period=FIVE_MINUTES),
        ]
    return alarms
