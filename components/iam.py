"""IAM policy documents as JSON text (what Pulumi passes to AWS), built from plain data or Outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi


def policy_document(*statements: dict[str, Any]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: Sequence[str], resources: Sequence[Any], sid: str | None = None,
          condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), "Resource": list(resources)}
    if sid:
        statement["Sid"] = sid
    if condition:
        statement["Condition"] = condition
    return statement


def trust_policy(service: str, source_account: str | None = None) -> pulumi.Output[str]:
    """Let an AWS service assume a role; with `source_account`, only on this account's behalf (confused
    deputy guard, for services that send aws:SourceAccount; EC2 instance profiles do not)."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if source_account:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return policy_document(statement)
