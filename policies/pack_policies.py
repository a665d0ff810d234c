"""Every policy of the pack, in one list for the pack itself and for the offline runner.

Every policy is mandatory in every stack; a stack's policy config may lower one only by name, with the reason in
its `waiver` setting (offline.policy_check refuses a lowered level without one, and the plan prints each).
"""

from pulumi_policy import PolicyConfigSchema

import dns_firewall
import egress
import hardening
import tagging
import type_coverage

WAIVER = {"type": "string", "description": "Why this stack runs the policy below mandatory (required to lower it)."}


def _with_waiver(policy: object) -> object:
    schema = policy.config_schema or PolicyConfigSchema(properties={})
    policy.config_schema = PolicyConfigSchema(properties={**schema.properties, "waiver": WAIVER},
                                              required=schema.required)
    return policy


ALL_POLICIES = [_with_waiver(p) for p in (*tagging.POLICIES, *egress.POLICIES, *dns_firewall.POLICIES,
                                          *hardening.POLICIES, *type_coverage.POLICIES)]
