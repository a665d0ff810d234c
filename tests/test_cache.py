"""The shared cache: where a stack gets Valkey, who reaches it, how LiteLLM is wired to it, and, with the real proxy
and a real redis-server (TLS only, a password), that LiteLLM with the planned config connects and writes its shared
counters there, verifying the server's certificate and presenting the token."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.engine import Graph
from tests.fakes.bedrock import FakeBedrock
from tests.live import LITELLM, call, litellm_proxy, planned_config_path, wait_until
from tests.reachability import flow_allowed, group_id
from tests.stacks import container, env, run_with

VALKEY = "aws:elasticache/replicationGroup:ReplicationGroup"
REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
PROXY_PORT, REDIS_PORT = 4200, 6390
TOKEN = "cachetoken0123456789abcdef"
MASTER_KEY = "sk-cache-test-master"


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


# --- the real proxy and a real redis-server -------------------------------------------------------------------

def _certificates(directory: Path) -> None:
    """A CA and a certificate for localhost signed by it (ElastiCache's chain to Amazon's roots, in miniature)."""
    def openssl(*arguments: str) -> None:
        subprocess.run(["openssl", *arguments], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=test cache CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=localhost")
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "server.crt", "-days", "1", "-extfile", "san.ext")


def redis(directory: Path, *command: str, tls: bool = True, password: str | None = TOKEN) -> str:
    arguments = [REDIS_CLI, "-p", str(REDIS_PORT), "--no-auth-warning"]
    arguments += ["--tls", "--cacert", str(directory / "ca.crt")] if tls else []
    arguments += ["-a", password] if password else []
    result = subprocess.run([*arguments, *command], capture_output=True, text=True, timeout=10, check=False)
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def valkey_stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """redis-server with TLS only (no plain port) and a password, as ElastiCache runs with transit encryption
    required and an AUTH token."""
    assert REDIS_SERVER and REDIS_CLI, "install Debian's redis-server (make tools does)"
    directory = tmp_path_factory.mktemp("valkey")
    _certificates(directory)
    server = subprocess.Popen([REDIS_SERVER, "--port", "0", "--tls-port", str(REDIS_PORT), "--bind", "127.0.0.1",
                               "--tls-cert-file", "server.crt", "--tls-key-file", "server.key", "--tls-ca-cert-file",
                               "ca.crt", "--tls-auth-clients", "no", "--requirepass", TOKEN, "--save", "",
                               "--appendonly", "no", "--dir", str(directory)], cwd=directory,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: redis(directory, "PING").strip() == "PONG", 10, "redis-server to start")
        yield directory
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_stand_in_refuses_plain_text_and_a_wrong_password(valkey_stand_in: Path) -> None:
    """So a proxy that writes there spoke TLS, checked the certificate and sent the token."""
    with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=5) as plain:
        plain.sendall(b"PING\r\n")
        try:
            answer = plain.recv(64)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"+PONG")
    assert "WRONGPASS" in redis(valkey_stand_in, "PING", password="not-the-token")
    assert "NOAUTH" in redis(valkey_stand_in, "PING", password=None)


def test_litellm_with_the_planned_config_keeps_its_shared_counters_in_the_cache(
        prod: Graph, valkey_stand_in: Path, tmp_path: Path) -> None:
    assert LITELLM.exists()
    redis(valkey_stand_in, "FLUSHALL")
    bedrock = FakeBedrock()
    environment = {"LITELLM_MASTER_KEY": MASTER_KEY, "AWS_REGION_NAME": "us-west-2",
                   "AWS_BEDROCK_RUNTIME_ENDPOINT": bedrock.url, "REDIS_HOST": "localhost",
                   "REDIS_PORT": str(REDIS_PORT), "REDIS_PASSWORD": TOKEN,
                   # Only the test's CA is new; in AWS the system store verifies ElastiCache's certificate.
                   "REDIS_SSL_CA_CERTS": str(valkey_stand_in / "ca.crt")}
    try:
        with litellm_proxy(prod, PROXY_PORT, environment, tmp_path / "litellm.log"):
            for _ in range(3):
                status, body, _ = call("/v1/chat/completions", {
                    "model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]},
                    {"Authorization": f"Bearer {MASTER_KEY}"}, base=f"http://127.0.0.1:{PROXY_PORT}")
                assert status == 200, body
    finally:
        bedrock.close()
    log = (tmp_path / "litellm.log").read_text()
    assert "Got exception from REDIS" not in log, log[-3000:]
    keys = set(redis(valkey_stand_in, "--scan").split())
    # The rate limiter's windows (hooks/parallel_request_limiter_v3.py), one per key, user and model, in Redis so
    # every task counts the same requests; with virtual keys the spend counters (spend:key:..., spend:user:...)
    # join them.
    assert "{api_key:litellm_proxy_master_key}:tokens" in keys, keys
    assert "{model_per_key:litellm_proxy_master_key:claude-haiku-4-5}:tokens" in keys, keys
