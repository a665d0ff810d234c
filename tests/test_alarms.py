"""Alarms: what breaks the gateway for its users reaches a person, and "nothing happened yet" pages nobody."""

from __future__ import annotations

from typing import Any

import pytest

from offline.engine import Graph, run, stack_config
from offline.plan import alarm_routes
from settings import PROJECT, SettingsError
from tests.stacks import run_with

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SERVICES = ("litellm", "grafana", "victoriametrics")


def alarms(graph: Graph) -> dict[str, dict[str, Any]]:
    return {r.name.removeprefix("gw-alarms-"): r.inputs for r in graph.of_type(ALARM)}


def metrics_of(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Metric id -> metric of a metric-math alarm."""
    return {q["id"]: q["metric"] for q in alarm["metricQueries"] if "metric" in q}


def expression_of(alarm: dict[str, Any]) -> str:
    (query,) = [q for q in alarm["metricQueries"] if q.get("returnData")]
    return query["expression"]


def test_every_alarm_notifies_a_topic_in_its_own_region_on_alarm_and_recovery(stack: Graph) -> None:
    """CloudWatch publishes only to a topic in the alarm's region: the WAF alarm (us-east-1) has its own topic."""
    topics = {stack.provider_of(t).inputs["region"]: t.outputs["arn"] for t in stack.of_type("aws:sns/topic:Topic")}
    for alarm in stack.of_type(ALARM):
        region = stack.provider_of(alarm).inputs["region"]
        assert alarm.inputs["alarmActions"] == [topics[region]] == alarm.inputs["okActions"], alarm.name
    assert stack.outputs["alarmTopicArn"] == topics["us-west-1"]


def test_each_service_alarms_when_its_tasks_fall_below_desired(prod: Graph) -> None:
    """VictoriaMetrics is behind no ALB: Container Insights' task counts watch every service alike."""
    stack = prod
    watched = alarms(stack)
    cluster = stack.one("aws:ecs/cluster:Cluster").outputs["name"]
    for service in SERVICES:
        alarm = watched[f"{service}-tasks-below-desired"]
        name = stack.one("aws:ecs/service:Service", f"-{service}-service").outputs["name"]
        metrics = metrics_of(alarm)
        assert {m["metricName"] for m in metrics.values()} == {"DesiredTaskCount", "RunningTaskCount"}
        assert all(m["dimensions"] == {"ClusterName": cluster, "ServiceName": name} for m in metrics.values())
        assert expression_of(alarm) == "desired - FILL(running, 0)"
        assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)


def test_without_container_insights_each_service_alarms_when_nothing_runs(dev: Graph) -> None:
    """Dev turns Container Insights off: AWS/ECS's free CPUUtilization stops when no task runs (missing data pages),
    and the ALB's HealthyHostCount says whether one is healthy; a service with desiredCount 0 is left alone."""
    watched = alarms(dev)
    cluster = dev.one("aws:ecs/cluster:Cluster").outputs["name"]
    assert not any(key.endswith("tasks-below-desired") for key in watched), "no Container Insights metric is read"
    for service in SERVICES:
        alarm = watched[f"{service}-not-running"]
        name = dev.one("aws:ecs/service:Service", f"-{service}-service").outputs["name"]
        assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == ("AWS/ECS", "CPUUtilization",
                                                                                 "SampleCount")
        assert alarm["dimensions"] == {"ClusterName": cluster, "ServiceName": name}
        assert (alarm["comparisonOperator"], alarm["threshold"], alarm["treatMissingData"]) == (
            "LessThanThreshold", 1, "breaching")
    for service in ("litellm", "grafana"):
        healthy = watched[f"{service}-unhealthy"]
        assert (healthy["metricName"], healthy["treatMissingData"]) == ("HealthyHostCount", "breaching")
    idle = alarms(run_with("dev", grafana={"cpu": 256, "memory": 512, "desiredCount": 0, "spot": True,
                                           "architecture": "X86_64"}))
    assert "grafana-not-running" not in idle and "grafana-unhealthy" not in idle and "litellm-not-running" in idle


def test_unhealthy_alarms_only_while_tasks_are_wanted(prod: Graph) -> None:
    """HealthyHostCount is 0 before the first deploy and when a service is scaled to zero; neither is an outage."""
    stack = prod
    watched = alarms(stack)
    balancer = stack.one("aws:lb/loadBalancer:LoadBalancer").outputs["arnSuffix"]
    for service in ("litellm", "grafana"):
        alarm = watched[f"{service}-unhealthy"]
        group = stack.one("aws:lb/targetGroup:TargetGroup", f"tg-{service}").outputs["arnSuffix"]
        assert metrics_of(alarm)["healthy"]["dimensions"] == {"LoadBalancer": balancer, "TargetGroup": group}
        assert expression_of(alarm) == "IF(desired >= 1 AND FILL(healthy, 0) < 1, 1, 0)"
        assert alarm["treatMissingData"] == "notBreaching"
    assert "victoriametrics-unhealthy" not in watched


@pytest.mark.parametrize(("key", "missing"), [
    ("db-cpu", "breaching"), ("db-storage", "breaching"), ("nat-down", "breaching"),
    ("db-connection-errors", "notBreaching"), ("nat-egress", "notBreaching"), ("alb-5xx", "notBreaching"),
    ("litellm-5xx", "notBreaching"), ("litellm-tasks-below-desired", "notBreaching"),
])
def test_missing_data_alarms_only_when_it_means_the_thing_disappeared(prod: Graph, key: str, missing: str) -> None:
    """A stopped database or a vanished NAT instance reports nothing: that must page. No errors logged, no
    failed probe, no 5xx, a service not yet created: nothing happened."""
    assert alarms(prod)[key]["treatMissingData"] == missing


def test_the_nat_alarms_when_egress_stops_not_only_when_the_instance_goes(stack: Graph) -> None:
    """An instance that runs but does not forward stays in service: the egress probe's failed invocations (Lambda
    publishes them itself, not through the NAT) are the signal."""
    probe = stack.one("aws:lambda/function:Function")
    alarm = alarms(stack)["nat-egress"]
    assert (alarm["namespace"], alarm["metricName"]) == ("AWS/Lambda", "Errors")
    assert alarm["dimensions"] == {"FunctionName": probe.outputs["name"]}
    assert alarm["evaluationPeriods"] == 2, "two failed probes in a row"
    schedule = stack.one("aws:cloudwatch/eventRule:EventRule")
    assert schedule.inputs["scheduleExpression"] == f"rate({alarm['period'] // 60} minutes)"
    private = {stack.id_of(s) for s in stack.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["Tier"] == "private"}
    assert set(probe.inputs["vpcConfig"]["subnetIds"]) == private, "it leaves the VPC the way the tasks do"
    assert stack.one("aws:cloudwatch/eventTarget:EventTarget").inputs["arn"] == probe.outputs["arn"]
    group = stack.one("aws:autoscaling/group:Group")
    assert alarms(stack)["nat-down"]["dimensions"] == {"AutoScalingGroupName": group.outputs["name"]}
    assert "GroupInServiceInstances" in group.inputs["enabledMetrics"], "the NAT alarm needs the group's metric"


def test_database_alarms_watch_this_stacks_database(stack: Graph) -> None:
    identifier = stack.one("aws:rds/instance:Instance").outputs["identifier"]
    for key in ("db-cpu", "db-storage"):
        assert alarms(stack)[key]["dimensions"] == {"DBInstanceIdentifier": identifier}


def test_database_connection_errors_in_litellms_log_raise_an_alarm(stack: Graph) -> None:
    """A database LiteLLM cannot use (password refused, unreachable, closed) shows in its log as Prisma's P1000,
    P1001 and P1017 messages; the tasks' health check stays database-free so a blip does not drain them."""
    log_filter = stack.one("aws:cloudwatch/logMetricFilter:LogMetricFilter", "-db-errors")
    litellm_logs = stack.one("aws:cloudwatch/logGroup:LogGroup", "-litellm-logs").outputs["name"]
    assert log_filter.inputs["logGroupName"] == litellm_logs
    for message in ("Authentication failed against database server", "Can't reach database server",
                    "Server has closed the connection"):
        assert f'?"{message}"' in log_filter.inputs["pattern"]
    metric = log_filter.inputs["metricTransformation"]
    alarm = alarms(stack)["db-connection-errors"]
    assert (alarm["namespace"], alarm["metricName"]) == (metric["namespace"], metric["name"])
    assert metric["namespace"] == f"LLMGateway/{stack.stack}", "one namespace per stack"
    assert alarm["evaluationPeriods"] == 2, "a failover's minute of closed connections pages nobody"


def test_the_waf_alarms_when_it_blocks_an_address(prod: Graph) -> None:
    """CloudFront's WAF metrics live in us-east-1 with dimensions WebACL and Rule (the metric names), no Region."""
    acl = prod.one("aws:wafv2/webAcl:WebAcl")
    (rate_rule,) = [r for r in acl.inputs["rules"] if "rateBasedStatement" in r["statement"]]
    alarm = prod.one(ALARM, "waf-rate-limited")
    assert prod.provider_of(alarm).inputs["region"] == "us-east-1"
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/WAFV2", "BlockedRequests")
    assert alarm.inputs["dimensions"] == {"WebACL": acl.inputs["visibilityConfig"]["metricName"],
                                          "Rule": rate_rule["visibilityConfig"]["metricName"]}
    assert acl.inputs["visibilityConfig"]["metricName"].startswith("llm-gateway-prod-"), "unique in the account"
    # WAF publishes a rule's and the ACL's metrics only when their visibility says so: else the alarm sees nothing.
    # The alarm's first check (docs/architecture.md) is the WAF's sampled requests: kept for both too.
    for visibility in (acl.inputs["visibilityConfig"], rate_rule["visibilityConfig"]):
        assert visibility["cloudwatchMetricsEnabled"] is True and visibility["sampledRequestsEnabled"] is True


def test_alarms_are_emailed_only_when_an_address_is_set(dev: Graph, prod: Graph) -> None:
    assert alarm_routes(dev)["subscribers"] == []
    assert alarm_routes(prod)["subscribers"] == ["email:platform-oncall@example.com"]
    graph = run_with("dev", alertEmail="oncall@example.com")
    (subscription,) = graph.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert (subscription.inputs["protocol"], subscription.inputs["endpoint"]) == ("email", "oncall@example.com")


def test_a_protected_stack_must_page_someone() -> None:
    config = {k: v for k, v in stack_config("prod").items() if k != f"{PROJECT}:alertEmail"}
    with pytest.raises(SettingsError, match="alertEmail: a stack with deletionProtection must send its alarms"):
        run("prod", config)
