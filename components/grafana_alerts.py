"""Grafana alert rules for what users feel, rendered per stack into the Grafana image's provisioning
(provisioning/alerting/rules.yaml, Grafana's file-provisioning format) with the stack's thresholds baked in.

Each rule is one PromQL query on VictoriaMetrics (refId A, instant) and a threshold expression on it (refId C).
Contact point and notification policy are plain files next to it (images/grafana/provisioning/alerting/).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from settings import AlertingSettings

DATASOURCE_UID = "victoriametrics"


@dataclass(frozen=True)
class AlertRule:
    uid: str
    title: str
    expr: str
    comparison: str  # Grafana threshold evaluator type: gt or lt
    threshold: str  # a number, or the name of an AlertingSettings field
    pending: str
    no_data: str  # what no data means: OK (nothing happened) or Alerting (the source disappeared)
    summary: str
    first_check: str


BEDROCK_FAILURES = "litellm_deployment_failure_responses_total"
PROXY_FAILURES = "litellm_proxy_failed_requests_metric_total"


def _failures_in_5m(counter: str, status_matcher: str, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (increase({counter}{{exception_status{status_matcher}}}[5m]))"


def _p95_per_model(histogram: str) -> str:
    return f"histogram_quantile(0.95, sum by (le, model) (rate({histogram}_bucket[10m])))"


RULES = (
    AlertRule("bedrock-errors", "Bedrock errors for a model",
              _failures_in_5m(BEDROCK_FAILURES, '!="429"', by="model_group"),
              "gt", "bedrock_errors", "5m", "OK", "Bedrock refuses or fails calls for {{ $labels.model_group }}",
              "LiteLLM's log: AccessDenied (model access, IAM) or ValidationException (request shape, a beta flag)."),
    AlertRule("bedrock-throttling", "Bedrock throttles a model",
              _failures_in_5m(BEDROCK_FAILURES, '="429"', by="model_group"),
              "gt", "0", "5m", "OK", "Bedrock throttles {{ $labels.model_group }}: people see 429s and retries",
              "The account's Bedrock quotas for the model (Service Quotas) and who spends them (spend per key)."),
    AlertRule("proxy-5xx", "The gateway answers 5xx",
              _failures_in_5m(PROXY_FAILURES, '=~"5.."'),
              "gt", "proxy_errors", "5m", "OK", "The gateway answered 5xx to clients",
              "LiteLLM's log, the database (db-connection-errors alarm), then Bedrock's errors."),
    # LiteLLM 1.108.7 labels a request refused at authentication (no key, bad key) exception_status="None" (seen
    # with the real proxy); forbidden models are 403, budgets and rate limits 429.
    AlertRule("rejected-requests", "Many requests rejected",
              _failures_in_5m(PROXY_FAILURES, '=~"401|403|429|None"'),
              "gt", "rejected_requests", "5m", "OK", "Many requests were refused: bad keys, forbidden models, budgets",
              "The dashboard by hashed_api_key and exception_status: a leaked or revoked key, a budget run out."),
    AlertRule("latency-p95", "Slow answers for a model",
              _p95_per_model("litellm_request_total_latency_metric"),
              "gt", "latency_p95_seconds", "10m", "OK", "95% of {{ $labels.model }} requests take longer than allowed",
              "The Bedrock call latency panel: if Bedrock is slow, its health and throttling; else the tasks' CPU."),
    AlertRule("ttft-p95", "Slow first token for a model",
              _p95_per_model("litellm_llm_api_time_to_first_token_metric"),
              "gt", "ttft_p95_seconds", "10m", "OK", "Streams of {{ $labels.model }} take long to start",
              "Large prompts start slowly; if all do, Bedrock's health in the region and the profile's routing."),
    AlertRule("spend-burn", "Spend heading over the month's budget",
              "sum(increase(litellm_spend_metric_total[1h])) * 24 * 30", "gt", "monthly_spend_usd", "15m", "OK",
              "At the last hour's rate the month's spend passes the threshold",
              "The keys that spend (spend per key and user) and their budgets and tiers."),
    AlertRule("budget-80", "A key or person has used 80% of its budget",
              "min by (hashed_api_key) (litellm_remaining_api_key_budget_metric / litellm_api_key_max_budget_metric)"
              " or min by (user) (litellm_remaining_user_budget_metric / litellm_user_max_budget_metric)",
              "lt", "0.2", "5m", "OK", "{{ $labels.hashed_api_key }}{{ $labels.user }} has under 20% of its budget",
              "Tell the person; raise the tier or the budget (tools.users) if the use is legitimate."),
    AlertRule("litellm-not-scraped", "LiteLLM is not scraped", 'max(up{job="litellm"})', "lt", "1", "5m",
              "Alerting", "VictoriaMetrics gets nothing from any LiteLLM task: dashboards and alerts are blind",
              "The LiteLLM service (tasks-below-desired alarm) and VictoriaMetrics' targets (/targets)."),
    # A gauge of the targets' current state (a failure counter would keep a start-up blip for its whole window).
    AlertRule("victoriametrics-targets-down", "VictoriaMetrics cannot scrape a target",
              'sum(vm_promscrape_targets{status="down"})', "gt", "0", "5m", "Alerting",
              "A scrape target is down, or VictoriaMetrics answers nothing (no data)",
              "VictoriaMetrics' /targets page and log, its volume (EFS), and that LiteLLM answers /metrics/."),
)


def threshold(rule: AlertRule, settings: AlertingSettings) -> float:
    return float(getattr(settings, rule.threshold)) if hasattr(settings, rule.threshold) else float(rule.threshold)


def _grafana_rule(rule: AlertRule, settings: AlertingSettings) -> dict:
    return {
        "uid": rule.uid, "title": rule.title, "condition": "C",
        "data": [
            {"refId": "A", "relativeTimeRange": {"from": 900, "to": 0}, "datasourceUid": DATASOURCE_UID,
             "model": {"refId": "A", "expr": rule.expr, "instant": True}},
            {"refId": "C", "datasourceUid": "__expr__", "model": {
                "refId": "C", "type": "threshold", "expression": "A",
                "conditions": [{"evaluator": {"type": rule.comparison, "params": [threshold(rule, settings)]}}]}},
        ],
        "noDataState": rule.no_data, "execErrState": "Alerting", "for": rule.pending,
        "annotations": {"summary": rule.summary, "description": f"First check: {rule.first_check}"},
        "labels": {"severity": "page"}, "isPaused": False,
    }


def render(settings: AlertingSettings) -> str:
    document = {"apiVersion": 1, "groups": [{"orgId": 1, "name": "llm-gateway", "folder": "LLM gateway",
                                             "interval": "1m",
                                             "rules": [_grafana_rule(rule, settings) for rule in RULES]}]}
    return "# Rendered by components/grafana_alerts.py with the stack's thresholds; do not edit.\n" + yaml.safe_dump(
        document, sort_keys=False)
