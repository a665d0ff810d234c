"""Alarms: what breaks the gateway for its users reaches a person."""

from __future__ import annotations

from offline.engine import Graph
from tests.stacks import run_with

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def alarms(graph: Graph) -> dict[str, dict]:
    return {r.name.removeprefix("gw-alarms-"): r.inputs for r in graph.of_type(ALARM)}


def test_every_alarm_notifies_the_topic_on_alarm_and_recovery(stack: Graph) -> None:
    topic = stack.one("aws:sns/topic:Topic").outputs["arn"]
    assert set(alarms(stack)) == {"alb-5xx", "litellm-unhealthy", "litellm-5xx", "grafana-unhealthy", "grafana-5xx",
                                  "db-cpu", "db-storage", "db-connection-errors", "nat-down"}
    for inputs in alarms(stack).values():
        assert inputs["alarmActions"] == [topic] and inputs["okActions"] == [topic]
    assert stack.outputs["alarmTopicArn"] == topic


def test_alarms_watch_the_resources_of_this_stack(stack: Graph) -> None:
    watched = alarms(stack)
    balancer = stack.one("aws:lb/loadBalancer:LoadBalancer").outputs["arnSuffix"]
    litellm_group = stack.one("aws:lb/targetGroup:TargetGroup", "tg-litellm").outputs["arnSuffix"]
    assert watched["litellm-unhealthy"]["dimensions"] == {"LoadBalancer": balancer, "TargetGroup": litellm_group}
    assert watched["litellm-unhealthy"]["treatMissingData"] == "breaching", "no data means no healthy task"
    assert watched["db-storage"]["dimensions"] == {
        "DBInstanceIdentifier": stack.one("aws:rds/instance:Instance").outputs["identifier"]}
    group = stack.one("aws:autoscaling/group:Group")
    assert watched["nat-down"]["dimensions"] == {"AutoScalingGroupName": group.outputs["name"]}
    assert "GroupInServiceInstances" in group.inputs["enabledMetrics"], "the NAT alarm needs the group's metric"


def test_alarms_are_emailed_only_when_an_address_is_set(dev: Graph) -> None:
    assert not dev.of_type("aws:sns/topicSubscription:TopicSubscription")
    graph = run_with("dev", alertEmail="oncall@example.com")
    (subscription,) = graph.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert (subscription.inputs["protocol"], subscription.inputs["endpoint"]) == ("email", "oncall@example.com")


def test_database_connection_errors_in_litellms_log_raise_an_alarm(stack: Graph) -> None:
    """A database LiteLLM cannot use (password refused, unreachable, closed) shows in its log as Prisma's P1000,
    P1001 and P1017 messages; the tasks' health check stays database-free so a blip does not drain them."""
    (log_filter,) = stack.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
    litellm_logs = stack.one("aws:cloudwatch/logGroup:LogGroup", "-litellm-logs").outputs["name"]
    assert log_filter.inputs["logGroupName"] == litellm_logs
    for message in ("Authentication failed against database server", "Can't reach database server",
                    "Server has closed the connection"):
        assert f'?"{message}"' in log_filter.inputs["pattern"]
    metric = log_filter.inputs["metricTransformation"]
    alarm = alarms(stack)["db-connection-errors"]
    assert (alarm["namespace"], alarm["metricName"]) == (metric["namespace"], metric["name"])
    assert metric["namespace"] == f"LLMGateway/{stack.stack}", "one namespace per stack"
    assert alarm["treatMissingData"] == "notBreaching", "no error logged is no error"
