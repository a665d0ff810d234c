"""The IAM evaluator the contract tests and policies rely on decides as IAM's documented evaluation logic does."""

from __future__ import annotations

import pytest

from tests.policy_probes import PROFILE

from iam_logic import is_allowed, request_allowed

MODEL = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(**fields: object) -> dict:
    return {"Effect": "Allow", **fields}


@pytest.mark.parametrize(("statement", "action", "resource", "context", "expected"), [
    (allow(Action="bedrock:InvokeModel", Resource=PROFILE), "bedrock:invokemodel", PROFILE, {}, True),
    (allow(Action="bedrock:InvokeModel", Resource=PROFILE), "bedrock:InvokeModelWithResponseStream", PROFILE, {},
     False),
    (allow(Action="bedrock:Invoke*", Resource="arn:aws:bedrock:*"), "bedrock:InvokeModel", MODEL, {}, True),
    (allow(Action="s3:Get?bject", Resource="*"), "s3:GetObject", "arn:aws:s3:::b/k", {}, True),
    (allow(NotAction="iam:*", Resource="*"), "bedrock:InvokeModel", MODEL, {}, True),
    (allow(NotAction="iam:*", Resource="*"), "iam:PassRole", "*", {}, False),
    (allow(Action="*", NotResource=PROFILE), "bedrock:InvokeModel", PROFILE, {}, False),
    (allow(Action="*", NotResource=PROFILE), "bedrock:InvokeModel", MODEL, {}, True),
    (allow(Action="bedrock:InvokeModel", Resource=MODEL,
           Condition={"ArnEquals": {"bedrock:InferenceProfileArn": PROFILE}}), "bedrock:InvokeModel", MODEL,
     {"bedrock:InferenceProfileArn": PROFILE}, True),
    (allow(Action="bedrock:InvokeModel", Resource=MODEL,
           Condition={"ArnEquals": {"bedrock:InferenceProfileArn": PROFILE}}), "bedrock:InvokeModel", MODEL, {}, False),
    (allow(Action="ec2:*", Resource="*", Condition={"StringEquals": {"aws:ResourceTag/Team": ["a", "b"]}}),
     "ec2:AttachNetworkInterface", "arn:aws:ec2:::instance/i-1", {"aws:ResourceTag/Team": "b"}, True),
    (allow(Action="ec2:*", Resource="*", Condition={"StringEqualsIfExists": {"aws:ResourceTag/Team": "a"}}),
     "ec2:AttachNetworkInterface", "arn:aws:ec2:::instance/i-1", {}, True),
    (allow(Action="ec2:*", Resource="*", Condition={"StringNotEquals": {"aws:ResourceTag/Team": "a"}}),
     "ec2:AttachNetworkInterface", "arn:aws:ec2:::instance/i-1", {"aws:ResourceTag/Team": "a"}, False),
])
def test_one_statement(statement: dict, action: str, resource: str, context: dict, expected: bool) -> None:
    assert is_allowed([policy(statement)], action, resource, context) is expected


def test_an_explicit_deny_wins_over_any_allow() -> None:
    documents = [policy(allow(Action="*", Resource="*")),
                 policy({"Effect": "Deny", "Action": "bedrock:*", "Resource": "*"})]
    assert not is_allowed(documents, "bedrock:InvokeModel", MODEL)
    assert is_allowed(documents, "s3:GetObject", "arn:aws:s3:::b/k")


def test_a_call_on_two_resources_needs_both() -> None:
    document = policy(allow(Action="ec2:AttachNetworkInterface", Resource="arn:aws:ec2:*:*:instance/*"))
    instance, eni = ("arn:aws:ec2:r:1:instance/i-1", {}), ("arn:aws:ec2:r:1:network-interface/eni-1", {})
    assert request_allowed([document], "ec2:AttachNetworkInterface", [instance])
    assert not request_allowed([document], "ec2:AttachNetworkInterface", [instance, eni])


def test_an_operator_it_does_not_know_is_an_error_not_a_verdict() -> None:
    statement = allow(Action="*", Resource="*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    with pytest.raises(ValueError, match="IpAddress"):
        is_allowed([policy(statement)], "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SourceIp": "10.1.1.1"})
