"""Paths the edge and the proxy are tested with: what clients use, and the admin plane around it."""

# What LiteLLM 1.108.7 serves for clients: OpenAI-compatible with and without /v1, the Anthropic Messages API.
INFERENCE = [
    "/v1/chat/completions", "/chat/completions", "/v1/completions", "/completions", "/v1/embeddings", "/embeddings",
    "/v1/models", "/models", "/v1/models/claude-sonnet-4-5", "/models/claude-haiku-4-5",
    "/v1/models/anthropic.claude-haiku-4-5-20251001-v1%3A0", "/v1/responses", "/responses",
    "/v1/responses/resp_0123", "/v1/responses/resp_0123/input_items", "/v1/responses/resp_0123/cancel",
    "/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions/", "/v1/messages/",
    # Response ids as LiteLLM 1.108.7 makes them: resp_ + base64, padding included, as the OpenAI SDK sends them.
    "/v1/responses/resp_YmVkcm9jazpjbGF1ZGU6bXNnXzAx==", "/v1/responses/resp_bXNn+Zm9v=/input_items",
    "/v1/responses/resp_bXNnXzAxMg%3D%3D/cancel", "/api/event_logging/batch",
]
# The admin plane and everything else LiteLLM answers: docs, UI, login/SSO, keys, users, teams, spend, config,
# health, metrics, model management, routes listing, and tricks to reach them.
ADMIN_PLANE = [
    "/", "/docs", "/redoc", "/openapi.json", "/routes", "/ui", "/ui/", "/ui/login", "/login", "/fallback/login",
    "/sso/key/generate", "/sso/callback", "/key/generate", "/key/list", "/key/info", "/key/delete",
    "/key/regenerate", "/user/new", "/user/info", "/user/list", "/team/new", "/team/list", "/budget/new",
    "/spend/logs", "/global/spend/report", "/config/update", "/config/yaml", "/get/config/callbacks",
    "/model/new", "/model/info", "/v1/model/info", "/model_group/info", "/health", "/health/readiness",
    "/health/liveliness", "/metrics", "/metrics/", "/public/model_hub/info", "/cache/ping", "/debug/asyncio-tasks",
    "/customer/new", "/organization/new", "/audit", "/v2/key/info",
    # Case and encoding variants, dot segments, doubled slashes, paths that only start like the API.
    "/KEY/generate", "/Key/Generate", "/V1/MODELS/../../key/generate", "/%6Bey/generate", "/key%2Fgenerate",
    "/v1/models/../../key/generate", "/v1/chat/completions/../../../key/list", "/v1//messages", "//key/list",
    "/v1/messages/count_tokens/extra", "/v1/chat/completionsx", "/v1/models/a/b", "/%", "/v1\\messages",
    "/v1/messages%00", "/grafana", "/grafana/", "/grafana/api/ds/query", "/grafana/public/build/app.js",
]
