"""A model the key may not use gets an answer that names the models it may use.

LiteLLM 1.108.7 answers an unknown model with "Invalid model name passed in model=X. Call /v1/models ..." and a
forbidden one with a message that depends on the route; Claude Code shows that text to the person. This pre-call
hook (config: litellm_settings.callbacks) runs before either check and answers 400 with the allowed names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger


def refusal(model: str | None, key_models: Iterable[str], served: Iterable[str],
            aliases: dict[str, str]) -> str | None:
    """Why `model` is refused for a key allowed `key_models` (empty: all), or None. `served` are the model names
    of the config, `aliases` the other names clients send for them (alias -> model name)."""
    served = set(served)
    key_models = set(key_models)
    allowed = sorted(served if not key_models else served & key_models)
    target = aliases.get(model or "", model)
    if target in allowed and (not key_models or model in key_models or target in key_models):
        return None
    return (f"model {model!r} is not available to this key; allowed: {', '.join(allowed) or 'none'}. "
            "Set ANTHROPIC_MODEL (Claude Code) or the request's model to one of these.")


class ModelGuard(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: dict, call_type: str) -> dict:
        # The running proxy's router, set at startup (importing it at module load would be circular).
        from litellm.proxy.proxy_server import llm_router  # noqa: PLC0415

        if llm_router is None or "model" not in data:
            return data
        aliases = {alias: (target["model"] if isinstance(target, dict) else target)
                   for alias, target in (llm_router.model_group_alias or {}).items()}
        reason = refusal(data["model"], user_api_key_dict.models or [], llm_router.get_model_names(), aliases)
        if reason:
            raise HTTPException(status_code=400, detail=reason)
        return data


proxy_handler_instance = ModelGuard()
