"""The Claude models the gateway can serve, their Bedrock ids and list prices, and where their inference profiles
are called from: what settings.py's `models` and `budgets` choose from and the plan's prices come from."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

# What Bedrock bills for a geographic (`us.`) profile over list price; `global.` profiles bill list price.
PROFILE_MARKUP = {"us": 1.1, "global": 1.0}
# Where the `us.` Claude 4.5 profiles route, and so where they are called from (Bedrock User Guide, "Supported Regions
# and models for inference profiles").
US_PROFILE_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2")


class Model(BaseModel):
    """A Claude model the gateway can serve: its name here, its Bedrock id and cross-region profile scope, the other
    names clients send for it, and its list price per 1M tokens. Everything model-specific is derived from this:
    LiteLLM's model_list and aliases, the task role's Bedrock grants, the tiers' model lists, and prices."""

    model_config = ConfigDict(frozen=True)
    name: str
    bedrock_id: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    # `us.` profiles route within the US and cost 10% over list (and over `global.`).
    profile_scope: Literal["us", "global"] = "us"
    # Names clients send besides `name` and the dated one (hidden aliases; not listed by /v1/models).
    aliases: tuple[str, ...] = ()
    # False where LiteLLM's bundled price map lacks the model: the config then carries the price.
    priced_by_litellm: bool = True

    @property
    def profile_id(self) -> str:
        return f"{self.profile_scope}.{self.bedrock_id}"

    @property
    def billed_usd_per_mtok(self) -> tuple[float, float]:
        """Input and output price per 1M tokens as Bedrock bills them through this model's profile."""
        markup = PROFILE_MARKUP[self.profile_scope]
        return self.input_usd_per_mtok * markup, self.output_usd_per_mtok * markup

    @property
    def client_names(self) -> tuple[str, ...]:
        """The model's name first, then every other name clients send, each once."""
        return tuple(dict.fromkeys((self.name, self.dated_name, *self.aliases)))

    @property
    def dated_name(self) -> str:
        """The name Claude Code and the Anthropic SDKs ask for, e.g. claude-haiku-4-5-20251001."""
        return self.bedrock_id.removeprefix("anthropic.").split("-v")[0]


MODEL_CATALOG: dict[str, Model] = {
    model.name: model
    for model in (
        Model(name="claude-haiku-4-5", bedrock_id="anthropic.claude-haiku-4-5-20251001-v1:0",
              input_usd_per_mtok=1, output_usd_per_mtok=5),
        Model(name="claude-sonnet-4-5", bedrock_id="anthropic.claude-sonnet-4-5-20250929-v1:0",
              input_usd_per_mtok=3, output_usd_per_mtok=15),
        Model(name="claude-opus-4-5", bedrock_id="anthropic.claude-opus-4-5-20251101-v1:0",
              input_usd_per_mtok=5, output_usd_per_mtok=25),
    )
}
