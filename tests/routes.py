"""Paths the edge and the proxy are tested with: what clients use, and the admin plane around it."""

# What clients call, as (method, path): OpenAI-compatible with and without /v1, the Anthropic Messages API.
INFERENCE = [
    ("POST", "/v1/chat/completions"), ("POST", "/chat/completions"), ("POST", "/v1/completions"),
    ("POST", "/completions"), ("POST", "/v1/embeddings"), ("POST", "/embeddings"), ("GET", "/v1/models"),
    ("GET", "/models"), ("GET", "/v1/models/claude-sonnet-4-5"), ("GET", "/models/claude-haiku-4-5"),
    ("GET", "/v1/models/claude-haiku-4-5-20251001"), ("POST", "/v1/responses"), ("POST", "/responses"),
    ("GET", "/v1/responses/resp_0123"), ("DELETE", "/v1/responses/resp_0123"),
    ("GET", "/v1/responses/resp_0123/input_items"), ("POST", "/v1/responses/resp_0123/cancel"),
    ("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens"),
    # Response ids as LiteLLM 1.108.7 makes them: resp_ + base64, padding included, as the OpenAI SDK sends them.
    ("GET", "/v1/responses/resp_YmVkcm9jazpjbGF1ZGU6bXNnXzAx=="), ("GET", "/v1/responses/resp_bXNn+Zm9v=/input_items"),
    ("POST", "/v1/responses/resp_bXNnXzAxMg%3D%3D/cancel"), ("POST", "/api/event_logging/batch"),
]
INFERENCE_PATHS = sorted({path for _, path in INFERENCE})
# Public paths asked with another method, words after /models/ or /responses/ that are other routes, trailing
# slashes (LiteLLM redirects them to its own host), Google-style routes: none reaches the origin from outside.
WRONG_SHAPES = [
    ("GET", "/v1/chat/completions"), ("PUT", "/v1/messages"), ("DELETE", "/v1/models/claude-sonnet-4-5"),
    ("OPTIONS", "/v1/messages"), ("HEAD", "/v1/models"), ("POST", "/v1/models/claude-sonnet-4-5"),
    ("POST", "/models/register"), ("POST", "/responses/register"), ("GET", "/models/token"), ("GET", "/models/mcp"),
    ("POST", "/responses/mcp"), ("GET", "/v1/models/anthropic.claude-haiku-4-5-20251001-v1%3A0"),
    ("POST", "/v1/responses/compact"), ("POST", "/v1/responses/input_tokens"), ("GET", "/v1/responses/compact"),
    ("POST", "/models/claude-sonnet-4-5:generateContent"), ("POST", "/v1beta/models/claude-sonnet-4-5:countTokens"),
    ("GET", "/v1/models/claude-sonnet-4-5:countTokens"), ("POST", "/v1/chat/completions/"), ("POST", "/v1/messages/"),
    ("GET", "/v1/models/"), ("POST", "/v1/messages/count_tokens/"), ("GET", "/v1/responses/resp_0123/"),
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
