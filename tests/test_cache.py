"""The shared cache: where a stack gets Valkey, who reaches it, and how LiteLLM is wired to it. The real proxy with
prod's planned config writing its shared counters to a real redis-server (TLS only, a password) is in
test_images.py, on that module's proxy; here, that the stand-in refuses what ElastiCache refuses."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from offline.engine import Graph
from tests.fakes.valkey import Valkey, valkey_server
from tests.live import free_port, planned_config_path
from tests.reachability import flow_allowed, group_id
from tests.stacks import container, env, run_with

VALKEY = "aws:elasticache/replicationGroup:ReplicationGroup"
VALKEY_PORT = free_port()


def valkey(graph: Graph) -> Any:
    return graph.one(VALKEY)


def test_a_stack_of_several_litellm_tasks_gets_the_cache_and_one_task_does_not(dev: Graph, prod: Graph) -> None:
    assert not dev.of_type(VALKEY), "dev runs one task: its own memory is the whole truth"
    assert valkey(prod)
    assert run_with("dev", litellm={"cpu": 512, "memory": 1024, "maxCount": 3}).of_type(VALKEY), "default: on"
    assert not run_with("dev", litellm={"cpu": 512, "memory": 1024, "maxCount": 3},
                        cache={"enabled": False}).of_type(VALKEY), "a setting may turn it off"


def test_the_cache_encrypts_both_ways_and_demands_the_generated_token(prod: Graph) -> None:
    group = valkey(prod).inputs
    assert (group["engine"], group["transitEncryptionEnabled"], group["transitEncryptionMode"]) == (
        "valkey", True, "required")
    assert group["atRestEncryptionEnabled"] is True
    token = prod.one("random:index/randomPassword:RandomPassword", "cache-auth-token")
    assert group["authToken"] == token.outputs["result"]
    assert 16 <= len(group["authToken"]) <= 128 and group["authToken"].isalnum(), "ElastiCache's AUTH token rules"
    stored = prod.one("aws:secretsmanager/secretVersion:SecretVersion", "cache-auth-token")
    assert stored.inputs["secretString"] == group["authToken"], "LiteLLM reads the token AWS demands"


def test_the_engine_log_goes_to_a_vended_log_group_with_retention(prod: Graph) -> None:
    """ElastiCache's log delivery adds any other group to the account's shared Logs resource policy (5120 characters
    at most): CloudWatch Logs User Guide, "Enabling logging from AWS services"."""
    (delivery,) = valkey(prod).inputs["logDeliveryConfigurations"]
    group = prod.one("aws:cloudwatch/logGroup:LogGroup", "-cache-engine-log").inputs
    assert delivery == {"destination": group["name"], "destinationType": "cloudwatch-logs", "logFormat": "json",
                        "logType": "engine-log"}
    assert group["name"].startswith("/aws/vendedlogs/elasticache/llm-gateway-prod-") and group["retentionInDays"]


def test_prod_survives_losing_a_zone(prod: Graph) -> None:
    group = valkey(prod).inputs
    assert (group["numCacheClusters"], group["automaticFailoverEnabled"], group["multiAzEnabled"]) == (2, True, True)


def test_the_cache_lives_in_the_private_subnets_reached_by_litellm_alone(prod: Graph) -> None:
    group = valkey(prod)
    subnets = prod.one("aws:elasticache/subnetGroup:SubnetGroup").inputs["subnetIds"]
    private = {prod.id_of(s) for s in prod.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["Tier"] == "private"}
    assert set(subnets) == private
    (cache_group,) = group.inputs["securityGroupIds"]
    assert cache_group == group_id(prod, "-cache-sg")
    port = group.inputs["port"]
    callers = {unit for unit in ("litellm", "grafana", "victoriametrics", "alb", "egress-probe")
               if flow_allowed(prod, group_id(prod, f"-{unit}-sg"), cache_group, port)}
    assert callers == {"litellm"}
    ingress = [r for r in prod.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
               if r.inputs["securityGroupId"] == cache_group]
    assert [(r.inputs["referencedSecurityGroupId"], r.inputs["fromPort"]) for r in ingress] == [
        (group_id(prod, "-litellm-sg"), 6379)]


def test_litellm_is_wired_to_the_cache_from_its_environment(dev: Graph, prod: Graph) -> None:
    environment = env(container(prod, "litellm"))
    assert (environment["REDIS_HOST"], environment["REDIS_PORT"]) == (
        valkey(prod).outputs["primaryEndpointAddress"], "6379")
    assert "REDIS_PASSWORD" in {s["name"] for s in container(prod, "litellm")["secrets"]}
    config = yaml.safe_load(planned_config_path(prod).read_text())["general_settings"]
    assert config["coordination_redis"] == {"host": "os.environ/REDIS_HOST", "port": "os.environ/REDIS_PORT",
                                            "password": "os.environ/REDIS_PASSWORD", "ssl": True}
    assert "use_redis_transaction_buffer" not in config, "spend must reach PostgreSQL while Valkey is down"
    assert environment["REDIS_SSL"] == "True"
    dev_config = yaml.safe_load(planned_config_path(dev).read_text())
    assert "coordination_redis" not in dev_config["general_settings"] and "REDIS_HOST" not in env(
        container(dev, "litellm"))
    assert "cache" not in dev_config["litellm_settings"], "no LLM answer is ever served from a cache"


def test_cache_errors_in_litellms_log_raise_an_alarm(prod: Graph, dev: Graph) -> None:
    log_filter = prod.one("aws:cloudwatch/logMetricFilter:LogMetricFilter", "-cache-errors")
    assert log_filter.inputs["pattern"] == '"Got exception from REDIS"'
    alarm = prod.one("aws:cloudwatch/metricAlarm:MetricAlarm", "-cache-errors").inputs
    assert alarm["metricName"] == log_filter.inputs["metricTransformation"]["name"]
    assert not [a for a in dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.name.endswith("-cache-errors")]


# --- the stand-in refuses what ElastiCache refuses ----------------------------------------------------------------

@pytest.fixture(scope="module")
def valkey_stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Valkey]:
    with valkey_server(tmp_path_factory.mktemp("valkey"), VALKEY_PORT) as stand_in:
        yield stand_in


def test_the_stand_in_refuses_plain_text_and_a_wrong_password(valkey_stand_in: Valkey) -> None:
    """So the proxy that writes there (test_images.py) spoke TLS, checked the certificate and sent the token."""
    with socket.create_connection(("127.0.0.1", VALKEY_PORT), timeout=5) as plain:
        plain.sendall(b"PING\r\n")
        try:
            answer = plain.recv(64)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"+PONG")
    assert "WRONGPASS" in valkey_stand_in.cli("PING", password="not-the-token")
    assert "NOAUTH" in valkey_stand_in.cli("PING", password=None)
    assert valkey_stand_in.cli("PING").strip() == "PONG"
