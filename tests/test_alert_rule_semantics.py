"""Grafana's alert rules, as rendered for a stack, evaluated by the real VictoriaMetrics on imported series that sit
on either side of each rule's line: the failure it names fires, a near miss does not (a p50 where a p95 is meant,
4xx counted as throttling, 429s counted as errors would all be caught). And what no data and query errors mean
is each rule's stated choice. tests/test_alerting.py proves the rules on the real proxy's own metrics."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
import yaml

from components.grafana_alerts import RULES, render
from settings import AlertingSettings
from tests.live import VM_BINARY, call, free_port, serving

SETTINGS = AlertingSettings()  # the defaults: bedrockErrors 5, proxyErrors 10, rejectedRequests 50, p95 90 s, ...
FAILURES = "litellm_deployment_failure_responses_total"
PROXY_FAILURES = "litellm_proxy_failed_requests_metric_total"


@pytest.fixture(scope="module")
def metrics_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert VM_BINARY, "install Debian's victoria-metrics (`make tools` does)"
    work, port = tmp_path_factory.mktemp("rules"), free_port()
    base = f"http://127.0.0.1:{port}"
    with serving([VM_BINARY, f"-storageDataPath={work / 'data'}", f"-httpListenAddr=:{port}",
                  "-search.latencyOffset=0s", "-search.disableCache"], work / "vm.log",
                 lambda: call("/health", base=base)[0] == 200, 30, "VictoriaMetrics"):
        yield base


def rules() -> dict[str, dict]:
    return {rule["uid"]: rule for rule in yaml.safe_load(render(SETTINGS))["groups"][0]["rules"]}


def fires(base: str, uid: str, job: str) -> bool:
    """The rule's query, over one case's series only (VictoriaMetrics' extra_label adds job="<case>" to every
    selector), judged by its threshold."""
    rule = rules()[uid]
    (condition,) = rule["data"][1]["model"]["conditions"]
    operator = {"gt": ">", "lt": "<"}[condition["evaluator"]["type"]]
    expr = f"({rule['data'][0]['model']['expr']}) {operator} {condition['evaluator']['params'][0]}"
    urllib.request.urlopen(f"{base}/internal/force_flush", timeout=10).read()
    status, body, _ = call("/api/v1/query?" + urllib.parse.urlencode({"query": expr, "extra_label": f"job={job}"}),
                           base=base)
    assert status == 200, body
    return bool(body["data"]["result"])


def counter(name: str, labels: str, before: float, now: float, minutes_ago: int) -> list[str]:
    """Two samples: `before` some minutes back, `now` ten seconds back (Prometheus text with timestamps)."""
    stamp = int(time.time() * 1000)
    return [f"{name}{{{labels}}} {before} {stamp - minutes_ago * 60_000}", f"{name}{{{labels}}} {now} {stamp - 10_000}"]


def send(base: str, lines: list[str]) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{base}/api/v1/import/prometheus", data="\n".join(lines).encode()),
                           timeout=10).read()


def histogram(job: str, buckets: dict[str, int], name: str = "litellm_request_total_latency_metric") -> list[str]:
    return [line for le, count in buckets.items()
            for line in counter(f"{name}_bucket", f'job="{job}",model="m",le="{le}"', 0, count, 9)]


# uid -> (series that must fire, near-miss series that must not); `J` stands for the case's own job label.
CASES = {
    "latency-p95": (histogram("J", {"1": 50, "10": 60, "200": 100, "+Inf": 100}),   # p95 ~176 s, p50 1 s
                    histogram("J", {"1": 96, "10": 99, "200": 100, "+Inf": 100})),   # p95 under 1 s
    "ttft-p95": (histogram("J", {"1": 50, "60": 60, "200": 100, "+Inf": 100},
                           "litellm_llm_api_time_to_first_token_metric"),
                 histogram("J", {"1": 96, "60": 100, "200": 100, "+Inf": 100},
                           "litellm_llm_api_time_to_first_token_metric")),
    "bedrock-throttling": (counter(FAILURES, 'job="J",model_group="m",exception_status="429"', 0, 3, 4),
                           counter(FAILURES, 'job="J",model_group="m",exception_status="400"', 0, 30, 4)),
    "bedrock-errors": (counter(FAILURES, 'job="J",model_group="m",exception_status="500"', 0, 9, 4),
                       counter(FAILURES, 'job="J",model_group="m",exception_status="429"', 0, 90, 4)),
    "proxy-5xx": (counter(PROXY_FAILURES, 'job="J",exception_status="503"', 0, 20, 4),
                  counter(PROXY_FAILURES, 'job="J",exception_status="429"', 0, 200, 4)),
    "rejected-requests": (counter(PROXY_FAILURES, 'job="J",exception_status="401"', 0, 90, 4),
                          counter(PROXY_FAILURES, 'job="J",exception_status="500"', 0, 200, 4)),
    "spend-burn": (counter("litellm_spend_metric_total", 'job="J"', 0, 1.5, 50),    # $1.5/h: ~$1,080 a month
                   counter("litellm_spend_metric_total", 'job="J"', 0, 0.4, 50)),   # ~$290 a month
    "budget-80": ([*counter("litellm_remaining_api_key_budget_metric", 'job="J",hashed_api_key="k"', 1, 1, 1),
                   *counter("litellm_api_key_max_budget_metric", 'job="J",hashed_api_key="k"', 10, 10, 1)],
                  [*counter("litellm_remaining_api_key_budget_metric", 'job="J",hashed_api_key="k"', 3, 3, 1),
                   *counter("litellm_api_key_max_budget_metric", 'job="J",hashed_api_key="k"', 10, 10, 1)]),
}


@pytest.mark.parametrize("uid", sorted(CASES))
def test_each_rule_fires_on_its_failure_and_not_on_a_near_miss(metrics_store: str, uid: str) -> None:
    firing, near = (f"{uid}-fires", f"{uid}-near")
    send(metrics_store, [line.replace('job="J"', f'job="{firing}"') for line in CASES[uid][0]] +
         [line.replace('job="J"', f'job="{near}"') for line in CASES[uid][1]])
    assert (fires(metrics_store, uid, firing), fires(metrics_store, uid, near)) == (True, False)


def test_what_no_data_and_errors_mean_is_each_rules_choice() -> None:
    """A query that fails pages (execErrState Alerting: a broken datasource is a blind gateway). No data is fine
    where it means nothing happened (no errors, no spend), and pages where it means nothing is watched (the
    scrape rules)."""
    watched = {"litellm-not-scraped", "victoriametrics-targets-down"}
    assert set(rules()) == {r.uid for r in RULES} == set(CASES) | watched
    for uid, rule in rules().items():
        assert rule["execErrState"] == "Alerting", uid
        assert rule["noDataState"] == ("Alerting" if uid in watched else "OK"), uid
