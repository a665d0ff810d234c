"""The llm-gateway policy pack. Constructing PolicyPack serves the policies to the Pulumi engine and never
returns: tests and the offline plan import the policies (pack_policies.ALL_POLICIES), never this file."""

from pulumi_policy import PolicyPack

from pack_policies import ALL_POLICIES

PolicyPack(name="llm-gateway", description="Tagging, Bedrock-only egress and hardening for the LLM gateway",
           policies=ALL_POLICIES)
