"""Alarms on what breaks a gateway for its users, sent to one SNS topic (and an e-mail address if given).

Missing data is chosen per alarm: where it means "the thing disappeared" (no database metrics, no NAT instance) the
alarm fires; where it means "nothing happened yet" (no errors logged, a service not yet deployed, scaled to zero) it
does not. Service alarms compare with the desired task count, so a first deploy or a service scaled to zero is quiet.

The topic is not KMS-encrypted: CloudWatch cannot publish to a topic under the AWS-managed SNS key, and the
notifications carry no prompts or keys. Alarms publish only to a topic in their own region, so the WAF's alarm
(CloudFront metrics live in us-east-1) has a topic of its own there, with the same subscriber.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

MINUTE = 60
FIVE_MINUTES = 300
# Prisma's messages for a database LiteLLM cannot use (Prisma error reference: P1000 authentication failed, P1001
# can't reach the server, P1017 the server closed the connection). Spotted in LiteLLM's log: a readiness signal on
# the database that does not drain the tasks (their health check stays database-free).
DATABASE_ERROR_PATTERN = ('?"Authentication failed against database server" ?"Can\'t reach database server" '
                          '?"Server has closed the connection"')

# LiteLLM 1.108.7's messages while its shared Valkey fails (caching/redis_cache.py): "Got exception from REDIS" on
# ping, get and set until its circuit breaker opens (5 failures), then only "Redis circuit breaker OPENED ..." once
# per recovery probe (every REDIS_CIRCUIT_BREAKER_RECOVERY_TIMEOUT, 60 s), the failures themselves at DEBUG. Either
# counts, so a lasting outage fills every period. LiteLLM meanwhile counts budgets and rate limits in each task's own
# memory and keeps serving.
CACHE_ERROR_PATTERN = '?"Got exception from REDIS" ?"Redis circuit breaker OPENED"'


@dataclass(frozen=True, kw_only=True)
class EdgeAlarms:
    """The WAF's rate-limit rule, watched in us-east-1 where CloudFront's WAF metrics are (dimensions WebACL, Rule)."""

    provider: aws.Provider
    web_acl_metric: str
    rate_rule_metric: str


@dataclass(frozen=True, kw_only=True)
class AlertTopicArgs:
    email: str | None = None


def _topic(name: str, email: str | None, opts: pulumi.ResourceOptions) -> aws.sns.Topic:
    topic = aws.sns.Topic(f"{name}-topic", display_name="LLM gateway alarms", opts=opts)
    if email:
        aws.sns.TopicSubscription(f"{name}-topic-email", topic=topic.arn, protocol="email", endpoint=email, opts=opts)
    return topic


class AlertTopic(pulumi.ComponentResource):
    """The stack's SNS topic for CloudWatch alarms and Grafana's alerts, e-mailed to the on-call address."""

    arn: pulumi.Output[str]

    def __init__(self, name: str, args: AlertTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:observability:AlertTopic", name, None, opts)
        self.arn = _topic(name, args.email, pulumi.ResourceOptions(parent=self)).arn
        self.register_outputs({"arn": self.arn})


@dataclass(frozen=True, kw_only=True)
class AlarmsArgs:
    # The stack's alert topic (AlertTopic) in the stack's region.
    topic_arn: pulumi.Input[str]
    alb_arn_suffix: pulumi.Input[str]
    # Service key -> target group ARN suffix, for the services behind the ALB.
    target_group_arn_suffixes: Mapping[str, pulumi.Input[str]]
    cluster_name: pulumi.Input[str]
    # Service key -> ECS service name, for running-below-desired (Container Insights' task counts).
    service_names: Mapping[str, pulumi.Input[str]]
    # Without Container Insights there is no desired count: a service must simply run, unless its minimum task count
    # (settings) is 0; AWS/ECS's own CPU metric shows whether it does.
    container_insights: bool = True
    minimum_tasks: Mapping[str, int] = field(default_factory=dict)
    database_identifier: pulumi.Input[str]
    nat_group_name: pulumi.Input[str]
    # The egress probe's function: its failed invocations mean the NAT does not forward.
    egress_probe_function: pulumi.Input[str]
    egress_probe_every_seconds: int
    # LiteLLM's log group, searched for database connection errors; their count lands in `metric_namespace`.
    litellm_log_group_name: pulumi.Input[str]
    metric_namespace: str
    # Whether LiteLLM's tasks share a cache (components/cache.py): its errors are counted and alarmed too.
    shared_cache: bool = False
    email: str | None = None
    edge: EdgeAlarms | None = None


@dataclass(frozen=True, kw_only=True)
class Metric:
    namespace: str
    name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    statistic: str


@dataclass(frozen=True, kw_only=True)
class _Alarm:
    key: str
    description: str
    comparison: str
    threshold: float
    missing: str
    # One metric, or several combined by `expression` (CloudWatch metric math, ids are the keys).
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    expression: str | None = None
    periods: int = 3
    period: int = MINUTE


class Alarms(pulumi.ComponentResource):

    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:observability:Alarms", name, None, opts)
        self._name = name
        log_counts = {"db-errors": ("DatabaseConnectionErrors", DATABASE_ERROR_PATTERN),
                      **({"cache-errors": ("CacheErrors", CACHE_ERROR_PATTERN)} if args.shared_cache else {})}
        for key, (metric, pattern) in log_counts.items():
            aws.cloudwatch.LogMetricFilter(
                f"{name}-{key}", log_group_name=args.litellm_log_group_name, pattern=pattern,
                metric_transformation={"name": metric, "namespace": args.metric_namespace, "value": "1",
                                       "default_value": "0"},
                opts=pulumi.ResourceOptions(parent=self))
        for alarm in _alarms(args):
            self._alarm(alarm, args.topic_arn, pulumi.ResourceOptions(parent=self))
        if args.edge:
            edge = pulumi.ResourceOptions(parent=self, provider=args.edge.provider)
            self._alarm(_waf_alarm(args.edge), _topic(f"{name}-edge", args.email, edge).arn, edge)
        self.register_outputs({})

    def _alarm(self, alarm: _Alarm, topic_arn: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
        common = {"alarm_description": alarm.description, "comparison_operator": alarm.comparison,
                  "threshold": alarm.threshold, "evaluation_periods": alarm.periods,
                  "treat_missing_data": alarm.missing, "alarm_actions": [topic_arn], "ok_actions": [topic_arn]}
        if alarm.expression is None:
            ((_, metric),) = alarm.metrics.items()
            aws.cloudwatch.MetricAlarm(
                f"{self._name}-{alarm.key}", namespace=metric.namespace, metric_name=metric.name,
                dimensions=dict(metric.dimensions), statistic=metric.statistic, period=alarm.period, **common,
                opts=opts)
            return
        queries = [{"id": "e1", "expression": alarm.expression, "label": alarm.key, "return_data": True}] + [
            {"id": key, "return_data": False, "metric": {
                "namespace": m.namespace, "metric_name": m.name, "dimensions": dict(m.dimensions),
                "period": alarm.period, "stat": m.statistic}}
            for key, m in alarm.metrics.items()]
        aws.cloudwatch.MetricAlarm(f"{self._name}-{alarm.key}", metric_queries=queries, **common, opts=opts)


def _one(namespace: str, name: str, dimensions: Mapping[str, pulumi.Input[str]], statistic: str) -> dict[str, Metric]:
    return {"m1": Metric(namespace=namespace, name=name, dimensions=dimensions, statistic=statistic)}


def _basic_service_alarms(args: AlarmsArgs) -> list[_Alarm]:
    """Without Container Insights: AWS/ECS publishes a service's CPUUtilization every minute while a task of it runs
    (free), so no data for 5 minutes means none runs; behind the ALB, HealthyHostCount says whether one is healthy.
    A service whose minimum (`desiredCount`) is 0 is allowed to run nothing."""
    alarms = []
    for service, service_name in args.service_names.items():
        if args.minimum_tasks.get(service, 1) < 1:
            continue
        dimensions = {"ClusterName": args.cluster_name, "ServiceName": service_name}
        alarms.append(_Alarm(
            key=f"{service}-not-running", description=f"{service}: no task has run for 5 minutes (crashing, failing "
            "to start or to pull its image or secrets)",
            metrics=_one("AWS/ECS", "CPUUtilization", dimensions, "SampleCount"), comparison="LessThanThreshold",
            threshold=1, periods=5, missing="breaching"))
        target_group = args.target_group_arn_suffixes.get(service)
        if target_group is None:
            continue
        balancer = {"LoadBalancer": args.alb_arn_suffix, "TargetGroup": target_group}
        alarms += [
            _Alarm(key=f"{service}-unhealthy", description=f"{service}: no healthy task behind the ALB",
                   metrics=_one("AWS/ApplicationELB", "HealthyHostCount", balancer, "Minimum"),
                   comparison="LessThanThreshold", threshold=1, periods=5, missing="breaching"),
            _5xx(service, balancer),
        ]
    return alarms


def _5xx(service: str, balancer: Mapping[str, pulumi.Input[str]]) -> _Alarm:
    return _Alarm(key=f"{service}-5xx", description=f"{service} answers 5xx",
                  metrics=_one("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", balancer, "Sum"),
                  comparison="GreaterThanThreshold", threshold=10, periods=1, period=FIVE_MINUTES,
                  missing="notBreaching")


def _service_alarms(args: AlarmsArgs) -> list[_Alarm]:
    if not args.container_insights:
        return _basic_service_alarms(args)
    alarms = []
    for service, service_name in args.service_names.items():
        desired = Metric(namespace="ECS/ContainerInsights", name="DesiredTaskCount", statistic="Maximum",
                         dimensions={"ClusterName": args.cluster_name, "ServiceName": service_name})
        running = Metric(namespace="ECS/ContainerInsights", name="RunningTaskCount", statistic="Minimum",
                         dimensions={"ClusterName": args.cluster_name, "ServiceName": service_name})
        alarms.append(_Alarm(
            key=f"{service}-tasks-below-desired", description=f"{service}: fewer tasks running than desired for "
            "5 minutes (crashing, failing to start or to pull its image or secrets)",
            metrics={"desired": desired, "running": running}, expression="desired - FILL(running, 0)",
            comparison="GreaterThanThreshold", threshold=0, periods=5, missing="notBreaching"))
        target_group = args.target_group_arn_suffixes.get(service)
        if target_group is None:
            continue
        dimensions = {"LoadBalancer": args.alb_arn_suffix, "TargetGroup": target_group}
        healthy = Metric(namespace="AWS/ApplicationELB", name="HealthyHostCount", dimensions=dimensions,
                         statistic="Minimum")
        alarms += [
            _Alarm(key=f"{service}-unhealthy", description=f"{service}: tasks are wanted but none is healthy behind "
                   "the ALB", metrics={"desired": desired, "healthy": healthy},
                   expression="IF(desired >= 1 AND FILL(healthy, 0) < 1, 1, 0)", comparison="GreaterThanThreshold",
                   threshold=0, periods=5, missing="notBreaching"),
            _5xx(service, dimensions),
        ]
    return alarms


def _alarms(args: AlarmsArgs) -> list[_Alarm]:
    database = {"DBInstanceIdentifier": args.database_identifier}
    return [
        _Alarm(key="alb-5xx", description="The ALB itself answers 5xx (no healthy target, timeouts)",
               metrics=_one("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", {"LoadBalancer": args.alb_arn_suffix},
                            "Sum"),
               comparison="GreaterThanThreshold", threshold=10, periods=1, period=FIVE_MINUTES, missing="notBreaching"),
        _Alarm(key="db-cpu", description="PostgreSQL CPU above 80% for 15 minutes, or the database reports nothing "
               "(stopped or gone)", metrics=_one("AWS/RDS", "CPUUtilization", database, "Average"),
               comparison="GreaterThanThreshold", threshold=80, period=FIVE_MINUTES, missing="breaching"),
        _Alarm(key="db-storage", description="PostgreSQL has under 2 GiB free, or reports nothing",
               metrics=_one("AWS/RDS", "FreeStorageSpace", database, "Minimum"), comparison="LessThanThreshold",
               threshold=2 * 1024**3, periods=1, period=FIVE_MINUTES, missing="breaching"),
        # Two periods: a Multi-AZ failover or maintenance closes connections for a minute or two without paging.
        _Alarm(key="db-connection-errors", description="LiteLLM cannot use its database for 10 minutes "
               "(unreachable, password refused, connection closed): keys, budgets and spend fail",
               metrics=_one(args.metric_namespace, "DatabaseConnectionErrors", {}, "Sum"),
               comparison="GreaterThanThreshold", threshold=0, periods=2, period=FIVE_MINUTES, missing="notBreaching"),
        *([_Alarm(key="cache-errors", description="LiteLLM cannot use its shared Valkey for 10 minutes: budgets, "
                  "rate limits and key revocations are counted per task, so they hold N times over",
                  metrics=_one(args.metric_namespace, "CacheErrors", {}, "Sum"), comparison="GreaterThanThreshold",
                  threshold=0, periods=2, period=FIVE_MINUTES, missing="notBreaching")] if args.shared_cache else []),
        _Alarm(key="nat-down", description="No NAT instance in service: tasks cannot reach Bedrock",
               metrics=_one("AWS/AutoScaling", "GroupInServiceInstances",
                            {"AutoScalingGroupName": args.nat_group_name}, "Minimum"),
               comparison="LessThanThreshold", threshold=1, missing="breaching"),
        _Alarm(key="nat-egress", description="The egress probe cannot reach AWS through the NAT instance twice in a "
               "row: tasks cannot reach Bedrock, ECR, Secrets Manager or CloudWatch Logs",
               metrics=_one("AWS/Lambda", "Errors", {"FunctionName": args.egress_probe_function}, "Sum"),
               comparison="GreaterThanOrEqualToThreshold", threshold=1, periods=2,
               period=args.egress_probe_every_seconds, missing="notBreaching"),
        *_service_alarms(args),
    ]


def _waf_alarm(edge: EdgeAlarms) -> _Alarm:
    return _Alarm(key="waf-rate-limited", description="The WAF blocks addresses over the rate limit: people behind "
                  "one address (an office NAT) may be locked out; check the WAF's sampled requests",
                  metrics=_one("AWS/WAFV2", "BlockedRequests", {"WebACL": edge.web_acl_metric,
                                                                "Rule": edge.rate_rule_metric}, "Sum"),
                  comparison="GreaterThanThreshold", threshold=0, periods=1, period=FIVE_MINUTES,
                  missing="notBreaching")
