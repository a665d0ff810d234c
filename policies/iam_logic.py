"""IAM policy evaluation, as IAM does it, for the requests the tests and policies ask about.

One request (action, resource, request context) against identity policies: an explicit Deny wins; otherwise a
statement allows it when its Action/NotAction, Resource/NotResource and every Condition match. Wildcards `*` and `?`
match as in IAM: actions case-insensitively, resources case-sensitively. Condition operators this project uses are
implemented (the String, Arn and Bool families, `IfExists`, `ForAnyValue:`/`ForAllValues:`); any other operator
raises, so nothing is judged on a rule this module does not know. (IAM User Guide, "Policy evaluation logic",
"IAM JSON policy elements: Condition operators".)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from common import as_list, policy_statements

Context = Mapping[str, str | Sequence[str]]


@functools.cache
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


def _matches_any(patterns: Any, value: str, ignore_case: bool) -> bool:
    return any(wildcard_match(str(p), value, ignore_case) for p in as_list(patterns))


def _equals_ignoring_case(want: str, got: str) -> bool:
    return want.lower() == got.lower()


# Operator (without Not/IfExists/set prefix) -> test(wanted value, request value). ARN operators match like StringLike.
OPERATORS: dict[str, Any] = {
    "StringEquals": str.__eq__, "StringEqualsIgnoreCase": _equals_ignoring_case, "StringLike": wildcard_match,
    "ArnEquals": wildcard_match, "ArnLike": wildcard_match, "Bool": _equals_ignoring_case,
}


def _condition_holds(operator: str, key: str, wanted: Any, context: Context) -> bool:
    quantifier, _, operator = operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    negated = operator.startswith(("StringNot", "ArnNot"))
    test = OPERATORS.get(operator.replace("Not", "", 1) if negated else operator)
    if test is None or quantifier not in ("", "ForAnyValue", "ForAllValues"):
        raise ValueError(f"condition operator {quantifier + ':' if quantifier else ''}{operator} is not evaluated here")
    if key not in context:
        return if_exists or (negated and not quantifier) or quantifier == "ForAllValues"
    got = [str(v) for v in as_list(context[key])]
    wanted_values = [str(w) for w in as_list(wanted)]

    def one(value: str) -> bool:
        hit = any(test(w, value) for w in wanted_values)
        return not hit if negated else hit

    return all(one(v) for v in got) if quantifier == "ForAllValues" else any(one(v) for v in got)


def conditions_hold(condition: Mapping[str, Mapping[str, Any]] | None, context: Context) -> bool:
    """Every operator and every key must hold; the values of one key are alternatives."""
    return all(_condition_holds(operator, key, wanted, context)
               for operator, keys in (condition or {}).items() for key, wanted in keys.items())


def action_applies(statement: Mapping[str, Any], action: str) -> bool:
    """Whether the statement's Action (or NotAction) covers `action`; action names ignore case."""
    if "Action" in statement:
        return _matches_any(statement["Action"], action, ignore_case=True)
    return not _matches_any(statement.get("NotAction"), action, ignore_case=True)


def statement_applies(statement: Mapping[str, Any], action: str, resource: str, context: Context) -> bool:
    action_ok = action_applies(statement, action)
    if "Resource" in statement:
        resource_ok = _matches_any(statement["Resource"], resource, ignore_case=False)
    else:
        resource_ok = "NotResource" in statement and not _matches_any(statement["NotResource"], resource, False)
    return action_ok and resource_ok and conditions_hold(statement.get("Condition"), context)


def is_allowed(documents: Iterable[Any], action: str, resource: str, context: Context | None = None) -> bool:
    """Whether identity policies (JSON text or objects) allow `action` on `resource` given the request context."""
    applying = [s for document in documents for s in policy_statements(document)
                if statement_applies(s, action, resource, context or {})]
    return any(s.get("Effect") == "Allow" for s in applying) and not any(s.get("Effect") == "Deny" for s in applying)


def request_allowed(documents: Sequence[Any], action: str, resources: Sequence[tuple[str, Context]]) -> bool:
    """An API call that names several resources (AttachNetworkInterface: the instance and the interface) is allowed
    only when each is; each comes with its own request context (its tags, the call's condition keys)."""
    return all(is_allowed(documents, action, resource, context) for resource, context in resources)
