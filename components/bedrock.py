"""IAM for calling Claude on Bedrock through cross-region inference profiles, for exactly the served models.

Each model's profile scope comes from the catalogue (catalog.MODEL_CATALOG), as does the LiteLLM route
(components/litellm_config.py). A `global.` profile may route to any commercial region, so its foundation model
is granted in every region (`*`); a `us.` profile's only in the US regions it routes to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from catalog import MODEL_CATALOG
from components.iam import allow

INVOKE_ACTIONS = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
# Claude Code calls /v1/messages/count_tokens; LiteLLM answers it with Bedrock's CountTokens on the foundation
# model in the Bedrock region (no inference profile, nothing billed).
COUNT_TOKENS = "bedrock:CountTokens"
# Regions a `us.` profile may route a request to; the foundation model must be allowed in each.
US_PROFILE_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2")


def profile_id(model: str) -> str:
    return MODEL_CATALOG[model].profile_id


def _routed_regions(model: str) -> tuple[str, ...]:
    return US_PROFILE_REGIONS if MODEL_CATALOG[model].profile_scope == "us" else ("*",)


def bedrock_invoke_statements(models: Sequence[str], region: str, account_id: str) -> list[dict[str, Any]]:
    """Invoke the profiles in `region`; reach the foundation models only through those profiles; count tokens."""
    profiles = [f"arn:aws:bedrock:{region}:{account_id}:inference-profile/{profile_id(m)}" for m in models]
    foundation = [f"arn:aws:bedrock:{r}::foundation-model/{MODEL_CATALOG[m].bedrock_id}"
                  for m in models for r in _routed_regions(m)]
    return [
        allow(INVOKE_ACTIONS, profiles, sid="InvokeInferenceProfiles"),
        allow(INVOKE_ACTIONS, foundation, sid="InvokeModelsThroughProfiles",
              condition={"ArnEquals": {"bedrock:InferenceProfileArn": profiles}}),
        allow([COUNT_TOKENS], [f"arn:aws:bedrock:{region}::foundation-model/{MODEL_CATALOG[m].bedrock_id}"
                               for m in models], sid="CountTokens"),
    ]
