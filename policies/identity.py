"""What IAM grants, judged as IAM evaluates it (iam_logic): the only Bedrock use anywhere in the stack is invoking
(and counting tokens for) Anthropic Claude models, and no document hands out broad rights by wildcard, NotAction,
an AWS managed policy or a trust policy open to everyone.

Documents come from every place the provider takes them: role, user and group inline policies, managed policies,
a role's `inlinePolicies` and `assumeRolePolicy`; AWS managed policies arrive as ARNs (attachments, a role's
`managedPolicyArns`) and pass only when known not to grant Bedrock or broad rights.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bedrock_actions import BEDROCK_ACTIONS
from common import as_list, is_mapping, policy_statements
from iam_logic import action_applies

# The actions the gateway needs: InvokeModel covers Converse; CountTokens invokes and bills nothing.
ALLOWED_BEDROCK = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens")
# A foundation model may be named in any region (`*` or empty: a `global.` profile routes anywhere); a profile
# only in a region.
CLAUDE_ARN = re.compile(r"^arn:aws:bedrock:(?P<region>[a-z0-9-]*|\*):(?P<account>\d{12})?:(?P<kind>foundation-model|"
                        r"inference-profile)/((us|eu|apac|jp|au|global)\.)?anthropic\.claude-[a-z0-9.-]+(:\d+)?$")
DOCUMENT_KEYS = {"aws:iam/rolePolicy:RolePolicy": "policy", "aws:iam/userPolicy:UserPolicy": "policy",
                 "aws:iam/groupPolicy:GroupPolicy": "policy", "aws:iam/policy:Policy": "policy"}
ATTACHMENTS = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/userPolicyAttachment:UserPolicyAttachment",
               "aws:iam/groupPolicyAttachment:GroupPolicyAttachment", "aws:iam/policyAttachment:PolicyAttachment")
ROLE = "aws:iam/role:Role"
AWS_MANAGED = "arn:aws:iam::aws:policy/"
# AWS managed policies known to grant no Bedrock action and nothing broad (read from the IAM console).
KNOWN_MANAGED = {f"{AWS_MANAGED}{name}" for name in (
    "AmazonSSMManagedInstanceCore", "service-role/AWSLambdaVPCAccessExecutionRole",
    "service-role/AWSLambdaBasicExecutionRole", "service-role/AmazonECSTaskExecutionRolePolicy",
    "CloudWatchAgentServerPolicy")}


def documents(resource_type: str, props: dict[str, Any]) -> Iterator[Any]:
    """The permission documents a resource carries (not trust policies)."""
    if key := DOCUMENT_KEYS.get(resource_type):
        if props.get(key):
            yield props[key]
    elif resource_type == ROLE:
        yield from (p.get("policy") for p in as_list(props.get("inlinePolicies")) if p.get("policy"))


def managed_policy_arns(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type in ATTACHMENTS:
        return [str(props["policyArn"])] if props.get("policyArn") else []
    return [str(a) for a in as_list(props.get("managedPolicyArns"))] if resource_type == ROLE else []


def _actions(statement: dict[str, Any], key: str) -> list[str]:
    return [str(a) for a in as_list(statement.get(key))]


def _bedrock_granted(statement: dict[str, Any]) -> set[str]:
    """The Bedrock actions a statement covers: each action of AWS's catalogue its patterns match, and any Bedrock
    action it names outright (one newer than the catalogue included)."""
    named = {a for a in _actions(statement, "Action") if a.lower().startswith("bedrock:") and not set("*?") & set(a)}
    return {a for a in BEDROCK_ACTIONS if action_applies(statement, a)} | named


def _resource_problems(statement: dict[str, Any], account: str | None) -> list[str]:
    if "NotResource" in statement or "Resource" not in statement:
        return ["Bedrock granted through NotResource: name the model ARNs"]
    problems = []
    for resource in (str(r) for r in as_list(statement["Resource"])):
        match = CLAUDE_ARN.match(resource)
        if not match:
            problems.append(f"Bedrock allowed on {resource}: only Anthropic Claude model or inference-profile ARNs")
        elif match["kind"] == "inference-profile" and match["region"] in ("", "*"):
            problems.append(f"Bedrock allowed on inference profiles in every region {resource}: name the region")
        elif match["kind"] == "inference-profile" and account and match["account"] != account:
            problems.append(f"Bedrock allowed on another account's inference profile {resource}")
    return problems


def statement_problems(statement: dict[str, Any], account: str | None) -> list[str]:
    """What an Allow statement grants beyond invoking Claude, by IAM's own matching of its elements."""
    if statement.get("Effect", "Allow") != "Allow":
        return []
    problems = []
    if "NotAction" in statement:
        problems.append(f"NotAction {_actions(statement, 'NotAction')} in an Allow grants every other action")
    if wildcards := [a for a in _actions(statement, "Action") if "*" in a or "?" in a]:
        problems.append(f"wildcard actions {wildcards}: name each action")
    granted = _bedrock_granted(statement)
    allowed = {a.lower() for a in ALLOWED_BEDROCK}
    if extra := sorted(a for a in granted if a.lower() not in allowed):
        shown = extra if len(extra) <= 4 else [*extra[:3], f"... {len(extra) - 3} more"]
        problems.append(f"grants Bedrock actions {shown} beyond {list(ALLOWED_BEDROCK)}")
    elif granted:
        problems += _resource_problems(statement, account)
    return problems


def trust_problems(props: dict[str, Any]) -> list[str]:
    """A role anyone may assume gives its rights to anyone."""
    problems = []
    for statement in policy_statements(props.get("assumeRolePolicy") or "{}"):
        principal = statement.get("Principal")
        principals = [p for values in (principal or {}).values() for p in as_list(values)] if is_mapping(
            principal) else as_list(principal)
        if statement.get("Effect", "Allow") == "Allow" and "*" in principals:
            problems.append("trust policy lets any principal (*) assume the role")
    return problems


def grant_problems(resource_type: str, props: dict[str, Any], account: str | None) -> list[str]:
    problems = [p for document in documents(resource_type, props) for statement in policy_statements(document)
                for p in statement_problems(statement, account)]
    problems += [f"AWS managed policy {arn} may grant Bedrock or broad rights: write the actions out"
                 for arn in managed_policy_arns(resource_type, props)
                 if arn.startswith(AWS_MANAGED) and arn not in KNOWN_MANAGED]
    if resource_type == ROLE:
        problems += trust_problems(props)
    return problems
