"""A model the key may not use gets an answer that names the models it may use.

LiteLLM 1.108.7 checks a virtual key's model list during authentication and answers "The requested model ... is
not available for this API key, or the model name is invalid" (proxy/auth/model_access_denied.py); a key without a
list (the master key) reaches the pre-call hook, and an unknown model then gets "Invalid model name passed in
model=X". Claude Code shows that text to the person. This callback (litellm_settings.callbacks) rewords both to
name the models the key may use: the authentication denial through the failure hook LiteLLM's auth error handler
calls (auth_exception_handler.py uses the exception it returns), the unknown model in the pre-call hook.

The first call through the pre-call hook also freezes the proxy's start-up heap (`_freeze_start_up_heap`). Loading
this module puts request_gate.py (its neighbour in the image) in front of the running proxy's application.
"""

from __future__ import annotations

import functools
import gc
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

# Key model entries LiteLLM reads as "every model" (proxy/auth/auth_checks.py, check_model_access_helper).
ALL_MODELS = {"*", "all-proxy-models"}


def refusal(model: str | None, key_models: Iterable[str], served: Iterable[str], aliases: dict[str, str],
            team_models: Iterable[str] = (), *, admin: bool = False) -> str | None:
    """Why `model` is refused for a key allowed `key_models` (empty or all-proxy-models: every model;
    all-team-models: its team's), or None. `served` are the config's model names, `aliases` the other names
    clients send (alias -> model name). A key that lists anything else (a model no longer served, an access group,
    a pattern) is refused, naming it, unless it is an admin's: the guard fails closed rather than leave the call to
    rules it cannot read."""
    served, key = set(served), set(key_models)
    if "all-team-models" in key:
        key = (key - {"all-team-models"}) | set(team_models)
    unknown = sorted(entry for entry in key if entry not in served and entry not in aliases and entry not in ALL_MODELS)
    if unknown and admin:
        return None
    if unknown:
        return (f"this key lists {', '.join(map(repr, unknown))}, which this gateway does not serve; ask an admin "
                "to bring the key up to date (python -m tools.users apply)")
    everything = not key or bool(key & ALL_MODELS)
    allowed = sorted(served if everything else {aliases.get(entry, entry) for entry in key} & served)
    target = aliases.get(model or "", model)
    if target in served and (everything or model in key or target in key):
        return None
    return (f"model {model!r} is not available to this key; allowed: {', '.join(allowed) or 'none'}. "
            "Set ANTHROPIC_MODEL (Claude Code) or the request's model to one of these.")


def _router_names() -> tuple[list[str], dict[str, str]]:
    # The running proxy's router, set at startup (importing it at module load would be circular).
    from litellm.proxy.proxy_server import llm_router  # noqa: PLC0415

    if llm_router is None:
        return [], {}
    aliases = {alias: (target["model"] if isinstance(target, dict) else target)
               for alias, target in (llm_router.model_group_alias or {}).items()}
    return llm_router.get_model_names(), aliases


# LiteLLM's role for the master key (proxy/_types.py LitellmUserRoles.PROXY_ADMIN); people's keys never carry it.
ADMIN_ROLE = "proxy_admin"
# The request fields a person's key may send, per API: what the Anthropic and OpenAI APIs define for a request and
# Claude Code and the SDKs use. Anything else (Bedrock's serviceTier/service_tier, performanceConfig,
# guardrailConfig, requestMetadata, extra_headers, aws_region_name, ...) would reach Bedrock as sent and change cost,
# routing or the signing region, so it is refused. LiteLLM adds `metadata`/`litellm_metadata` itself, and its session
# and trace ids from Claude Code's session header (seen with the real CLI: tests/test_images.py).
COMMON_FIELDS = {"model", "stream", "metadata", "litellm_metadata", "user", "litellm_session_id", "litellm_trace_id"}
ALLOWED_FIELDS = {
    "anthropic_messages": COMMON_FIELDS | {
        "messages", "system", "max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "tools",
        "tool_choice", "thinking", "context_management", "output_config"},
    "completion": COMMON_FIELDS | {
        "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "stream_options", "tools",
        "tool_choice", "parallel_tool_calls", "response_format", "n", "seed", "reasoning_effort", "thinking",
        "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias"},
    "text_completion": COMMON_FIELDS | {"prompt", "max_tokens", "temperature", "top_p", "stop", "n", "seed"},
    "embedding": COMMON_FIELDS | {"input", "encoding_format", "dimensions"},
    "responses": COMMON_FIELDS | {
        "input", "instructions", "tools", "tool_choice", "max_output_tokens", "temperature", "top_p",
        "previous_response_id", "store", "reasoning", "text", "parallel_tool_calls", "truncation", "include"},
    # The Responses API's follow-ups on one response (the public GET, DELETE, /cancel and /input_items).
    **{call_type: COMMON_FIELDS | {"response_id", "after", "before", "limit", "order", "include"}
       for call_type in ("get_responses", "delete_responses", "cancel_responses", "list_input_items")},
}
# Fields LiteLLM leaves out of its copy of the client's body (proxy_server_request.body) though a client may send them
# (litellm_pre_call_utils.py, _TRANSPORT_ONLY_CREDENTIAL_KEYS): `headers` and `api_key` reach the Bedrock call as
# sent (extra HTTP headers, another credential); with this config LiteLLM never sets them itself.
TRANSPORT_FIELDS = ("headers", "api_key")
# The headers a client may have LiteLLM pass on, in `provider_specific_header`: LiteLLM fills it from the request's
# own `anthropic-version` and `anthropic-beta` (litellm_pre_call_utils.py add_provider_specific_headers_to_request,
# ANTHROPIC_API_HEADERS); a body may carry one too, with anything in it.
FORWARDED_HEADERS = {"anthropic-version", "anthropic-beta"}


def _forwards_more_than_anthropics_headers(value: Any) -> bool:
    entries = value if isinstance(value, list) else [value] if value else []
    return any({str(name).lower() for name in (entry.get("extra_headers") or {})} - FORWARDED_HEADERS
               for entry in entries)


def unexpected_fields(call_type: str, fields: Iterable[str]) -> list[str]:
    """The request's fields a person's key may not send for `call_type` (LiteLLM's, async ones prefixed "a"); for an
    API not listed, every field."""
    allowed = ALLOWED_FIELDS.get(call_type) or ALLOWED_FIELDS.get(call_type.removeprefix("a"), set())
    return sorted(set(fields) - allowed)


def _is_admin(key: Any) -> bool:
    role = getattr(key, "user_role", None)
    return str(getattr(role, "value", role)) == ADMIN_ROLE


def _reason(model: Any, key: Any) -> str | None:
    served, aliases = _router_names()
    if not served or not isinstance(model, str):
        return None
    return refusal(model, getattr(key, "models", None) or [], served, aliases, getattr(key, "team_models", None) or [],
                   admin=_is_admin(key))


def _field_refusal(data: dict, key: Any, call_type: str) -> str | None:
    """The client's own fields (LiteLLM keeps them in proxy_server_request.body) checked against its API's list."""
    if _is_admin(key):
        return None
    sent = set(((data.get("proxy_server_request") or {}).get("body") or data).keys())
    sent |= {field for field in TRANSPORT_FIELDS if field in data}
    if _forwards_more_than_anthropics_headers(data.get("provider_specific_header")):
        sent.add("provider_specific_header")
    api = str(getattr(call_type, "value", call_type))
    if unexpected := unexpected_fields(api, sent):
        return (f"request field(s) {', '.join(map(repr, unexpected))} are not available to this key ({api}); "
                "an admin's key may send them")
    return None


@functools.cache
def _freeze_start_up_heap() -> None:
    """Move every object alive now (~790,000 once LiteLLM has started: its modules, FastAPI's, pydantic models)
    into the collector's permanent generation, once. Without it each full collection walks them all: `make bench`
    traced 0.5-0.6 s pauses on one core, during which the event loop answers nobody and every open stream stalls.
    At the first model call the proxy's start-up is over (its config, router and clients are built)."""
    gc.freeze()


class ModelGuard(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: dict, call_type: str) -> dict:
        _freeze_start_up_heap()
        if reason := _reason(data.get("model"), user_api_key_dict) or _field_refusal(data, user_api_key_dict,
                                                                                      call_type):
            raise HTTPException(status_code=400, detail=reason)
        return data

    async def async_post_call_failure_hook(self, request_data: dict, original_exception: Exception,
                                           user_api_key_dict: Any, traceback_str: str | None = None) -> Any:
        if type(original_exception).__name__ != "ModelAccessDeniedHTTPException":
            return None
        if reason := _reason(request_data.get("model"), user_api_key_dict):
            return HTTPException(status_code=getattr(original_exception, "status_code", 403), detail=reason)
        return None


proxy_handler_instance = ModelGuard()


def _neighbour(name: str) -> ModuleType:
    """A module next to this file (LiteLLM loads this one by its path; the directory is not on sys.path)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# In the proxy, LiteLLM's server module is loaded before its callbacks are (tests load this file on its own).
if "litellm.proxy.proxy_server" in sys.modules:
    _neighbour("request_gate").install(sys.modules["litellm.proxy.proxy_server"].app)
