"""Each planned alarm, evaluated as CloudWatch evaluates it (tests/cloudwatch_alarms.py), on the failure it names and on
a near miss: it fires on the first and stays quiet on the second, and missing data does what its description says.
A new alarm without its cases fails here."""

from __future__ import annotations

from typing import Any

import pytest

from offline.engine import Graph
from tests.cloudwatch_alarms import state
from tests.test_alarms import alarms

GIB = 1024**3
SERVICES = ("litellm", "grafana", "victoriametrics")
Case = dict[str, list[float | None]]


def one(*values: float | None) -> Case:
    return {"metric": list(values)}


# alarm key -> (fires, near miss, on missing data: "ALARM" or "OK"). A failure case is one healthy datapoint, then the
# failure for exactly the alarm's evaluation periods: an alarm that waits a period longer stays quiet on it.
SINGLE_METRIC: dict[str, tuple[Case, Case, str]] = {
    "alb-5xx": (one(0, 11), one(11, 10), "OK"),
    "db-cpu": (one(80, 81, 81, 81), one(81, 81, 80), "ALARM"),
    "db-storage": (one(2.1 * GIB, 1.9 * GIB), one(2.1 * GIB), "ALARM"),
    "db-connection-errors": (one(0, 3, 1), one(0, 1), "OK"),
    "cache-errors": (one(0, 1, 1), one(1, 0), "OK"),
    "waf-rate-limited": (one(0, 1), one(0), "OK"),
    "nat-down": (one(1, 0, 0, 0), one(0, 0, 1), "ALARM"),
    # One failed probe in each of two runs pages; a single failure does not.
    "nat-egress": (one(0, 1, 1), one(0, 1), "OK"),
    **{f"{service}-5xx": (one(0, 11), one(10), "OK") for service in SERVICES},
    # Dev (no Container Insights): no task sending CPU samples, or no healthy target, for five minutes.
    **{f"{service}-not-running": (one(1, 0, 0, 0, 0, 0), one(0, 0, 0, 0, 1), "ALARM") for service in SERVICES},
    **{f"{service}-unhealthy": (one(1, 0, 0, 0, 0, 0), one(0, 0, 0, 0, 1), "ALARM") for service in SERVICES},
}


def math(**series: list[float | None]) -> Case:
    return dict(series)


# Prod (Container Insights): metric math over desired, running and healthy tasks.
METRIC_MATH: dict[str, tuple[Case, Case, Case]] = {
    **{f"{service}-tasks-below-desired": (
        math(desired=[2] * 6, running=[2, 1, 1, 1, 1, 1]),
        math(desired=[2] * 5, running=[1, 1, 1, 1, 2]),
        math(desired=[1] * 5, running=[None] * 5),  # no running tasks report no datapoint: FILL counts them 0
    ) for service in SERVICES},
    **{f"{service}-unhealthy": (
        math(desired=[1] * 6, healthy=[1, 0, 0, 0, 0, 0]),
        math(desired=[0] * 5, healthy=[0] * 5),  # a wanted zero (scaled in on purpose) pages nobody
        math(desired=[1] * 5, healthy=[None] * 5),
    ) for service in SERVICES},
}


def _uses_math(alarm: dict[str, Any]) -> bool:
    return bool(alarm.get("metricQueries"))


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_every_alarm_fires_on_its_failure_and_not_on_a_near_miss(stack_name: str, dev: Graph, prod: Graph) -> None:
    planned = alarms({"dev": dev, "prod": prod}[stack_name])
    unjudged = [k for k, a in planned.items() if k not in (METRIC_MATH if _uses_math(a) else SINGLE_METRIC)]
    assert unjudged == [], "give each new alarm a case that fires and a near miss"
    for key, alarm in planned.items():
        cases = METRIC_MATH[key] if _uses_math(alarm) else SINGLE_METRIC[key]
        assert {len(series) for series in cases[0].values()} == {int(alarm["evaluationPeriods"]) + 1}, \
            f"{key}: its failure case is one healthy datapoint and then exactly its periods"
        if _uses_math(alarm):
            fires, near, missing = METRIC_MATH[key]
            assert (state(alarm, fires), state(alarm, near), state(alarm, missing)) == ("ALARM", "OK", "ALARM"), key
            continue
        fires, near, on_missing = SINGLE_METRIC[key]
        periods = int(alarm["evaluationPeriods"])
        assert (state(alarm, fires), state(alarm, near)) == ("ALARM", "OK"), key
        assert state(alarm, one(*[None] * periods)) == on_missing, f"{key}: missing data"


def test_the_evaluator_knows_the_semantics_it_judges() -> None:
    """The evaluator itself, on CloudWatch's documented cases (User Guide, "Evaluating an alarm")."""
    alarm = {"evaluationPeriods": 3, "datapointsToAlarm": 2, "comparisonOperator": "GreaterThanThreshold",
             "threshold": 5, "treatMissingData": "missing"}
    assert state(alarm, one(6, 0, 6)) == "ALARM", "M of N"
    assert state(alarm, one(6, 0, 0)) == "OK"
    assert state(alarm, one(None, None, None)) == "INSUFFICIENT_DATA"
    assert state({**alarm, "treatMissingData": "breaching"}, one(6, None, 0)) == "ALARM"
    assert state({**alarm, "treatMissingData": "notBreaching"}, one(6, None, 0)) == "OK"
    assert state({**alarm, "comparisonOperator": "GreaterThanOrEqualToThreshold"}, one(5, 5, 0)) == "ALARM"
    expression = {**alarm, "datapointsToAlarm": None, "metricQueries": [
        {"id": "a", "metric": {}}, {"id": "b", "metric": {}},
        {"id": "e", "expression": "IF(a >= 1 AND FILL(b, 0) < 1, 7, 0)", "returnData": True}]}
    assert state(expression, {"a": [1, 1, 1], "b": [None, 0, None]}) == "ALARM"
    assert state(expression, {"a": [1, 1, 1], "b": [None, 2, None]}) == "OK"
    with pytest.raises(ValueError, match="does not know"):
        state({**expression, "metricQueries": [{"id": "e", "expression": "RATE(a)", "returnData": True}]},
              {"a": [1, 1, 1]})
