"""CloudWatch's alarm evaluation, for the planned alarms' own inputs (CloudWatch User Guide, "Evaluating an alarm",
"Configuring how CloudWatch alarms treat missing data", "Using math expressions"): the last `evaluationPeriods`
datapoints are judged against the threshold with the alarm's comparison; `datapointsToAlarm` of them (default: all)
must breach; a missing datapoint counts as breaching or not as `treatMissingData` says (`missing`/`ignore`: it is
left out, and a window with no datapoint keeps the state, here INSUFFICIENT_DATA). Metric math alarms compute each
datapoint from their metrics with the expression; the functions the stacks use are implemented (FILL, IF, the
comparisons, AND, OR, + and -), anything else raises."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Series = Sequence[float | None]
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt, "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt, "LessThanOrEqualToThreshold": operator.le,
}
TOKEN = re.compile(r"\s*(>=|<=|==|!=|[><()+\-,]|AND\b|OR\b|FILL\b|IF\b|[A-Za-z_]\w*|\d+(?:\.\d+)?)")


def _tokens(expression: str) -> list[str]:
    position, found = 0, []
    while position < len(expression.rstrip()):
        match = TOKEN.match(expression, position)
        if not match:
            raise ValueError(f"metric math this evaluator does not know: {expression[position:]!r}")
        found.append(match.group(1))
        position = match.end()
    return found


class _Expression:
    """A recursive-descent reading of the metric math the stacks write, evaluated at one datapoint."""

    def __init__(self, expression: str, values: Mapping[str, float | None]) -> None:
        self.tokens, self.values = _tokens(expression), values

    def value(self) -> float | None:
        result = self._or()
        if self.tokens:
            raise ValueError(f"unexpected {self.tokens[0]!r}")
        return result

    def _take(self, expected: str | None = None) -> str:
        token = self.tokens.pop(0)
        if expected is not None and token != expected:
            raise ValueError(f"expected {expected!r}, got {token!r}")
        return token

    def _binary(self, lower: Callable[[], float | None], ops: Mapping[str, Callable[[float, float], Any]]):
        left = lower()
        while self.tokens and self.tokens[0] in ops:
            op = ops[self._take()]
            right = lower()
            left = None if left is None or right is None else float(op(left, right))
        return left

    def _or(self) -> float | None:
        return self._binary(self._and, {"OR": lambda a, b: bool(a) or bool(b)})

    def _and(self) -> float | None:
        return self._binary(self._comparison, {"AND": lambda a, b: bool(a) and bool(b)})

    def _comparison(self) -> float | None:
        ops = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
               "!=": operator.ne}
        return self._binary(self._sum, ops)

    def _sum(self) -> float | None:
        return self._binary(self._atom, {"+": operator.add, "-": operator.sub})

    def _atom(self) -> float | None:
        token = self._take()
        if token == "(":
            inner = self._or()
            self._take(")")
            return inner
        if token in ("FILL", "IF"):
            self._take("(")
            arguments = [self._or()]
            while self.tokens[0] == ",":
                self._take(",")
                arguments.append(self._or())
            self._take(")")
            if token == "FILL":
                return arguments[1] if arguments[0] is None else arguments[0]
            condition, then, otherwise = arguments
            return None if condition is None else (then if condition else otherwise)
        if re.fullmatch(r"\d+(?:\.\d+)?", token):
            return float(token)
        if self.tokens and self.tokens[0] == "(":
            raise ValueError(f"metric math function {token} this evaluator does not know")
        if token not in self.values:
            raise ValueError(f"metric math names {token!r}, which the alarm does not define")
        return self.values[token]


def datapoints(alarm: Mapping[str, Any], series: Mapping[str, Series]) -> list[float | None]:
    """The alarm's datapoints: its one metric's series, or its expression over its metrics' series."""
    queries = alarm.get("metricQueries") or []
    if not queries:
        return list(series["metric"])
    (returned,) = [q for q in queries if q.get("returnData")]
    ids = [q["id"] for q in queries if "metric" in q]
    length = len(next(iter(series.values())))
    return [_Expression(returned["expression"], {i: series[i][n] for i in ids}).value() for n in range(length)]


def state(alarm: Mapping[str, Any], series: Mapping[str, Series]) -> str:
    """ALARM, OK or INSUFFICIENT_DATA after the alarm evaluates the latest datapoints of `series`."""
    periods = int(alarm["evaluationPeriods"])
    needed = int(alarm.get("datapointsToAlarm") or periods)
    window = datapoints(alarm, series)[-periods:]
    missing = alarm.get("treatMissingData") or "missing"
    compare = COMPARISONS[alarm["comparisonOperator"]]
    judged = [None if value is None else compare(value, float(alarm["threshold"])) for value in window]
    if missing in ("breaching", "notBreaching"):
        judged = [missing == "breaching" if verdict is None else verdict for verdict in judged]
    present = [verdict for verdict in judged if verdict is not None]
    if not present:
        return "INSUFFICIENT_DATA"
    return "ALARM" if sum(present) >= min(needed, len(present)) and any(present) else "OK"
