"""What the internet may ask of the gateway: (method, path) pairs, the one list the edge function enforces, the README
publishes and the tests classify LiteLLM's routes against.

These are the routes the OpenAI and Anthropic SDKs and Claude Code call (LiteLLM 1.108.7 serves the OpenAI ones with
and without /v1). `{model}` matches only the names the stack serves, so a word after /models/ reaches nothing else
LiteLLM routes there (MCP's /<server>/register, Google's :generateContent); `{response}` matches LiteLLM's response
ids (resp_ and base64, padding included), so /responses/compact and /responses/input_tokens stay closed. No
trailing-slash forms: LiteLLM answers them with a redirect to its own host, the origin's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PUBLIC_ROUTES: tuple[tuple[str, str], ...] = (
    *((method, prefix + path) for prefix in ("/v1", "") for method, path in (
        ("POST", "/chat/completions"), ("POST", "/completions"), ("POST", "/embeddings"),
        ("GET", "/models"), ("GET", "/models/{model}"),
        ("POST", "/responses"), ("GET", "/responses/{response}"), ("DELETE", "/responses/{response}"),
        ("GET", "/responses/{response}/input_items"), ("POST", "/responses/{response}/cancel"))),
    ("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens"),
    # Claude Code posts its telemetry here; LiteLLM answers with a stub.
    ("POST", "/api/event_logging/batch"),
)
RESPONSE_ID = "resp_[A-Za-z0-9+=_-]+"


def route_patterns(model_names: Iterable[str]) -> list[tuple[str, str]]:
    """(method, regular expression over the decoded path) per public route, for `model_names` served."""
    models = "(" + "|".join(re.escape(name) for name in sorted(set(model_names))) + ")"
    return [(method, "^" + re.escape(path).replace(re.escape("{model}"), models)
             .replace(re.escape("{response}"), RESPONSE_ID) + "$") for method, path in PUBLIC_ROUTES]


def is_public(method: str, path: str, model_names: Iterable[str]) -> bool:
    return any(method == allowed and re.fullmatch(pattern, path) for allowed, pattern in route_patterns(model_names))


def markdown_table() -> str:
    """The README's table of what anyone may call (a test keeps the two the same)."""
    rows = [f"| {method} | `{path}` |" for method, path in PUBLIC_ROUTES]
    return "\n".join(["| method | path |", "|---|---|", *rows])
