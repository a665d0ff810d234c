"""The shared cache: where a stack gets Valkey, who reaches it, and how LiteLLM is wired to it. The real proxy with
prod's planned config writing its shared counters to a real redis-server (TLS only, a password) is in
test_images.py, on that module's proxy; here, that the stand-in refuses what ElastiCache refuses."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.alarms import CACHE_ERROR_PATTERN, FIVE_MINUTES
from offline.engine import Graph
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.valkey import Valkey, valkey_server
from tests.live import LITELLM, call, free_port, litellm_proxy, matches_log_filter, planned_config_path, wait_until
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
    assert log_filter.inputs["pattern"] == CACHE_ERROR_PATTERN, "proven on the real proxy: test_images.py"
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


# --- a lasting outage, on the real proxy ------------------------------------------------------------------------

def litellm_default(name: str) -> int:
    """An integer setting's default in the installed LiteLLM's constants.py (`get_env_int(NAME, default)`)."""
    (constants,) = (LITELLM.parent.parent / "lib").glob("python3*/site-packages/litellm/constants.py")
    return int(re.search(rf'get_env_int\("{name}", (\d+)\)', constants.read_text()).group(1))


def test_a_lasting_valkey_outage_keeps_the_cache_alarm_fed(prod: Graph, tmp_path: Path) -> None:
    """Prod's planned config with Valkey's port closed, requests arriving: LiteLLM keeps answering and its circuit
    breaker opens; after that the failures go to DEBUG and only the breaker's re-opening after each failed recovery
    probe is logged. The planned filter counts those, so every alarm period of a lasting outage holds a count (the
    probe interval, shortened here, is 60 s in the tasks: under the 5-minute period); "Got exception from REDIS"
    alone stops being written once the breaker is open, which is why it never paged."""
    probe_seconds = 2
    assert "REDIS_CIRCUIT_BREAKER_RECOVERY_TIMEOUT" not in env(container(prod, "litellm"))
    assert litellm_default("REDIS_CIRCUIT_BREAKER_RECOVERY_TIMEOUT") * 2 < FIVE_MINUTES, "probes in every period"
    log_filter = prod.one("aws:cloudwatch/logMetricFilter:LogMetricFilter", "-cache-errors").inputs["pattern"]
    log = tmp_path / "proxy.log"
    environment = {"LITELLM_MASTER_KEY": "sk-outage", "AWS_REGION_NAME": "us-west-2", "REDIS_HOST": "127.0.0.1",
                   "REDIS_PORT": str(free_port()), "REDIS_PASSWORD": "token",
                   "REDIS_CIRCUIT_BREAKER_RECOVERY_TIMEOUT": str(probe_seconds)}
    answers: list[int] = []
    bedrock, port = FakeBedrock(), free_port()

    def reopened_three_times() -> bool:
        answers.append(call("/v1/chat/completions", {"model": "claude-haiku-4-5", "messages": [
            {"role": "user", "content": "hi"}]}, {"Authorization": "Bearer sk-outage"},
            base=f"http://127.0.0.1:{port}")[0])
        return log.read_text().count("Redis circuit breaker OPENED") >= 3
    try:
        with litellm_proxy(prod, port, {**environment, "AWS_BEDROCK_RUNTIME_ENDPOINT": bedrock.url}, log):
            wait_until(reopened_three_times, 120, "the breaker to re-open after three probes")
    finally:
        bedrock.close()
    lines = log.read_text().splitlines()
    counted = [n for n, line in enumerate(lines) if matches_log_filter(log_filter, line)]
    first_open = next(n for n, line in enumerate(lines) if "Redis circuit breaker OPENED" in line)
    assert set(answers) == {200}, "people are served throughout"
    assert len([n for n in counted if n > first_open]) >= 2, "counted after the breaker opened, probe after probe"
    assert not [line for line in lines[first_open + 1:] if matches_log_filter('"Got exception from REDIS"', line)], \
        "the old pattern goes quiet once the breaker is open"
