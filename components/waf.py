"""AWS WAF web ACL for CloudFront: AWS's common rule set and a per-IP rate limit.

LLM prompts are large request bodies full of code and markup, so the common rule set's body-inspecting
rules would block ordinary API calls; they count instead of block. Header, URI and query rules still block.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.naming import stack_unique

COMMON_RULE_SET = "AWSManagedRulesCommonRuleSet"
BODY_RULES_COUNTED = ("SizeRestrictions_BODY", "CrossSiteScripting_BODY", "GenericLFI_BODY", "GenericRFI_BODY",
                      "EC2MetaDataSSRF_BODY")


@dataclass(frozen=True, kw_only=True)
class WafArgs:
    rate_limit_per_5_minutes: int


def _visibility(metric: str) -> dict:
    return {"cloudwatch_metrics_enabled": True, "sampled_requests_enabled": True, "metric_name": metric}


class Waf(pulumi.ComponentResource):
    arn: pulumi.Output[str]
    # CloudWatch publishes WAF metrics under these names (dimensions WebACL and Rule); stack-unique in the account.
    web_acl_metric: str
    rate_rule_metric: str

    def __init__(self, name: str, args: WafArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:edge:Waf", name, None, opts)
        self.web_acl_metric, self.rate_rule_metric = stack_unique(name), stack_unique(f"{name}-rate")
        acl = aws.wafv2.WebAcl(
            f"{name}-acl", scope="CLOUDFRONT", default_action={"allow": {}},
            visibility_config=_visibility(self.web_acl_metric),
            description="LLM gateway edge: common threats and per-IP rate limit",
            rules=[
                {"name": "rate-limit-per-ip", "priority": 0, "action": {"block": {}},
                 "statement": {"rate_based_statement": {"limit": args.rate_limit_per_5_minutes,
                                                        "aggregate_key_type": "IP"}},
                 "visibility_config": _visibility(self.rate_rule_metric)},
                {"name": COMMON_RULE_SET, "priority": 1, "override_action": {"none": {}},
                 "statement": {"managed_rule_group_statement": {
                     "vendor_name": "AWS", "name": COMMON_RULE_SET,
                     "rule_action_overrides": [{"name": rule, "action_to_use": {"count": {}}}
                                               for rule in BODY_RULES_COUNTED]}},
                 "visibility_config": _visibility(stack_unique(f"{name}-common"))},
            ],
            opts=pulumi.ResourceOptions(parent=self))
        self.arn = acl.arn
        self.register_outputs({"arn": self.arn})
