"""Grafana's alert rules, proven with real metrics: every rule's query, as rendered into the Grafana image, is
evaluated by the real vmalert against the real VictoriaMetrics scraping the real proxy (which calls a fake
Bedrock); each condition is induced and the rule fires, and on healthy traffic none does. Grafana itself cannot run
here: the provisioning files are checked against Grafana's documented file-provisioning format instead.

Its own ports from the OS (tests/live.py free_port), so it runs beside tests/test_images.py and any other LiteLLM.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.grafana_alerts import RULES, render, threshold
from offline.engine import ROOT_DIR, Graph, stack_config
from settings import AlertingSettings
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.local_server import LocalServer
from tests.live import call, free_port, litellm_proxy, query, serving, victoriametrics, wait_until
from tests.stacks import container, env

PROXY_PORT, VM_PORT, VMALERT_PORT = free_port(), free_port(), free_port()
PROXY = f"http://127.0.0.1:{PROXY_PORT}"
VM = f"http://127.0.0.1:{VM_PORT}"
VMALERT = f"http://127.0.0.1:{VMALERT_PORT}"
KEY = {"Authorization": "Bearer sk-alerting-test"}
ALERTING = ROOT_DIR / "images" / "grafana" / "provisioning" / "alerting"
# Thresholds low enough to cross with a few test requests; the expressions are the stack's.
TEST_THRESHOLDS = AlertingSettings(bedrock_errors=2, proxy_errors=0, rejected_requests=2,
                                   latency_p95_seconds=1, ttft_p95_seconds=1, monthly_spend_usd=50)
OPERATORS = {"gt": ">", "lt": "<"}


# --- the provisioning files, against Grafana's documented format ------------------------------------------------

def grafana_rules(graph: Graph) -> dict[str, Any]:
    context = graph.one("docker:index/image:Image", "grafana-image").inputs["build"]["context"]
    return yaml.safe_load((ROOT_DIR / context / "provisioning" / "alerting" / "rules.yaml").read_text())


def test_the_rules_follow_grafanas_file_provisioning_format(dev: Graph) -> None:
    """Grafana docs, "Use configuration files to provision alerting resources": apiVersion 1; groups with orgId,
    name, folder, interval; rules with uid (at most 40 characters), title, condition, data (refId,
    datasourceUid, relativeTimeRange, model), noDataState (NoData, Alerting, OK), execErrState (Error,
    Alerting, OK), for; the condition names a refId of the data."""
    document = grafana_rules(dev)
    assert document["apiVersion"] == 1
    (group,) = document["groups"]
    assert {"orgId", "name", "folder", "interval", "rules"} <= set(group)
    assert [r["uid"] for r in group["rules"]] == [r.uid for r in RULES]
    for rule in group["rules"]:
        assert len(rule["uid"]) <= 40 and rule["title"] and rule["for"].endswith("m")
        assert rule["noDataState"] in ("NoData", "Alerting", "OK") and rule["execErrState"] in ("Error", "Alerting",
                                                                                                 "OK")
        refs = {d["refId"] for d in rule["data"]}
        assert rule["condition"] in refs
        for data in rule["data"]:
            assert {"refId", "datasourceUid", "model"} <= set(data) and data["model"]["refId"] == data["refId"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"].startswith("First check:")


def test_thresholds_come_from_the_stack(dev: Graph) -> None:
    rules = {r["uid"]: r for r in grafana_rules(dev)["groups"][0]["rules"]}
    (condition,) = rules["latency-p95"]["data"][1]["model"]["conditions"]
    assert condition["evaluator"] == {"type": "gt", "params": [90.0]}
    assert yaml.safe_load(render(AlertingSettings(latency_p95_seconds=30)))["groups"][0]["rules"][4]["data"][1][
        "model"]["conditions"][0]["evaluator"]["params"] == [30.0]


# The SNS integration's settings (grafana/alerting receivers/sns/v1/config.go): unknown keys are dropped silently
# and without topic_arn Grafana refuses the contact point ("must specify topicArn, targetArn, or phone number").
SNS_SETTINGS = {"api_url", "sigv4", "topic_arn", "phone_number", "target_arn", "subject", "message", "attributes"}
SIGV4_SETTINGS = {"region", "access_key", "secret_key", "profile", "role_arn"}


def test_alerts_reach_the_stacks_topic_grouped_by_rule(dev: Graph) -> None:
    """The SNS contact point publishes with the task role (no keys: the SDK's default chain) to the topic the task
    is told, in the stack's region; the role may publish exactly there; the policy groups by rule."""
    points = yaml.safe_load((ALERTING / "contact-points.yaml").read_text())
    (point,) = points["contactPoints"]
    (receiver,) = point["receivers"]
    settings = receiver["settings"]
    assert receiver["type"] == "sns" and set(settings) <= SNS_SETTINGS and set(settings["sigv4"]) <= SIGV4_SETTINGS
    assert settings["topic_arn"] == "${ALERT_TOPIC_ARN}" and settings["sigv4"] == {"region": "${AWS_REGION}"}
    (policy,) = yaml.safe_load((ALERTING / "policies.yaml").read_text())["policies"]
    assert policy["receiver"] == point["name"] and "alertname" in policy["group_by"]
    topic = dev.one("aws:sns/topic:Topic", "gw-alarms-topic").outputs["arn"]
    environment = env(container(dev, "grafana"))
    assert (environment["ALERT_TOPIC_ARN"], environment["AWS_REGION"]) == (topic, stack_config("dev")["aws:region"])
    role = dev.one("aws:iam/rolePolicy:RolePolicy", "-grafana-task")
    (statement,) = json.loads(role.inputs["policy"])["Statement"]
    assert (statement["Action"], statement["Resource"]) == (["sns:Publish"], [topic])


# --- the rules, evaluated by vmalert on real metrics ---------------------------------------------------------------

def vmalert_rules() -> dict[str, Any]:
    """The Grafana rules as vmalert reads them: the same query and threshold, no pending period."""
    grafana = yaml.safe_load(render(TEST_THRESHOLDS))["groups"][0]["rules"]
    rules = []
    for rule, spec in zip(grafana, RULES, strict=True):
        query = rule["data"][0]["model"]["expr"]
        (condition,) = rule["data"][1]["model"]["conditions"]
        operator = OPERATORS[condition["evaluator"]["type"]]
        assert condition["evaluator"]["params"] == [threshold(spec, TEST_THRESHOLDS)]
        rules.append({"alert": rule["uid"], "expr": f"({query}) {operator} {condition['evaluator']['params'][0]}"})
    return {"groups": [{"name": "llm-gateway", "interval": "1s", "rules": rules}]}


class Notifications:
    """An Alertmanager stand-in: vmalert posts firing alerts here."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.extend(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._http = LocalServer(Handler)
        self.url = self._http.url

    def close(self) -> None:
        self._http.close()


@pytest.fixture(scope="module")
def stack_under_test(dev: Graph, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("alerting")
    bedrock, notifications = FakeBedrock(), Notifications()
    (work / "rules.yml").write_text(yaml.safe_dump(vmalert_rules()))
    try:
        with litellm_proxy(dev, PROXY_PORT, {"LITELLM_MASTER_KEY": KEY["Authorization"][7:],
                                       "AWS_REGION_NAME": "us-west-2", "AWS_BEDROCK_RUNTIME_ENDPOINT": bedrock.url},
                           work / "proxy.log") as proxy:
            # The proxy's first /metrics answer takes longer than the 1 s scrape timeout (it loads its routers then).
            wait_until(lambda: call("/metrics/", base=PROXY)[0] == 200, 30, "the proxy's metrics")
            with victoriametrics(work, VM_PORT, litellm_port=PROXY_PORT), vmalert(work, notifications.url):
                yield {"bedrock": bedrock, "proxy": proxy}
    finally:
        bedrock.close()
        notifications.close()


@contextmanager
def vmalert(work: Path, notifier_url: str) -> Iterator[None]:
    with serving([shutil.which("vmalert"), f"-rule={work / 'rules.yml'}", f"-datasource.url={VM}",
                  f"-notifier.url={notifier_url}", "-evaluationInterval=1s", f"-httpListenAddr=:{VMALERT_PORT}"],
                 work / "vmalert.log", lambda: call("/api/v1/alerts", base=VMALERT)[0] == 200, 30, "vmalert"):
        yield


def firing() -> set[str]:
    query("vector(1)", base=VM)  # flushes what was just scraped or imported, so vmalert's next evaluation sees it
    _, body, _ = call("/api/v1/alerts", base=VMALERT)
    return {a["name"] for a in body["data"]["alerts"] or [] if a["state"] == "firing"}


def ask(model: str = "claude-haiku-4-5", headers: dict[str, str] | None = None, stream: bool = False) -> int:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    return call("/v1/chat/completions", body, KEY if headers is None else headers, base=PROXY)[0]


def import_series(lines: list[str]) -> None:
    request = urllib.request.Request(f"{VM}/api/v1/import/prometheus", data="\n".join(lines).encode())
    urllib.request.urlopen(request, timeout=10).read()


def scraped_twice() -> None:
    """Long enough for two scrapes (1 s apart) of what was just sent and an evaluation (1 s) after they are
    searchable."""
    time.sleep(2.2)
    query("vector(1)", base=VM)
    time.sleep(1.5)


def test_healthy_traffic_fires_nothing(stack_under_test: dict[str, Any]) -> None:
    wait_until(lambda: [s["value"][1] for s in query('up{job="litellm"}', base=VM)] == ["1"], 30, "the first scrape")
    # Every series the next test moves exists first, so its rise (not its first sample) is what rules see.
    assert {ask(), ask(stream=True), ask("claude-opus-4-5"), ask("claude-opus-4-5", stream=True)} == {200}
    import_series(['litellm_remaining_api_key_budget_metric{hashed_api_key="steady"} 9',
                   'litellm_api_key_max_budget_metric{hashed_api_key="steady"} 10'])
    scraped_twice()
    assert firing() == set()


def test_each_condition_fires_its_rule(stack_under_test: dict[str, Any]) -> None:
    bedrock: FakeBedrock = stack_under_test["bedrock"]
    bedrock.fail_next(3)  # ValidationException: not retried
    assert [ask() for _ in range(3)] == [400] * 3
    bedrock.fail_next(3, status=500, error="InternalServerException")  # LiteLLM retries twice: all three fail
    assert ask() >= 500
    bedrock.fail_next(1, status=429, error="ThrottlingException")  # retried, so the person sees a success
    assert ask() == 200
    assert [ask(headers={}) for _ in range(3)] == [401] * 3
    bedrock.delay_seconds = 1.5
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda stream: ask("claude-opus-4-5", stream=stream), [False, True] * 3))
    bedrock.delay_seconds = 0
    import_series(['litellm_remaining_api_key_budget_metric{hashed_api_key="nearly-spent"} 1',
                   'litellm_api_key_max_budget_metric{hashed_api_key="nearly-spent"} 10'])
    expected = {"bedrock-errors", "bedrock-throttling", "proxy-5xx", "rejected-requests", "latency-p95", "ttft-p95",
                "spend-burn", "budget-80"}
    wait_until(lambda: expected <= firing(), 30, f"{sorted(expected)} to fire")
    _, body, _ = call("/api/v1/alerts", base=VMALERT)
    budget = [a for a in body["data"]["alerts"] if a["name"] == "budget-80"]
    assert [a["labels"]["hashed_api_key"] for a in budget] == ["nearly-spent"], "the steady key stays quiet"
    assert not firing() & {"litellm-not-scraped", "victoriametrics-targets-down"}


def test_a_proxy_that_stops_answering_fires_the_scrape_rules(stack_under_test: dict[str, Any]) -> None:
    stack_under_test["proxy"].terminate()
    wait_until(lambda: {"litellm-not-scraped", "victoriametrics-targets-down"} <= firing(), 30,
               "the scrape rules to fire")
