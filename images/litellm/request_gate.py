"""What reaches LiteLLM at all: a request body over the gateway's limit is refused (413) before anyone reads it, and
the model is named only in the body.

LiteLLM 1.108.7 reads and parses a whole body before it checks the key (one 250 MB body with no key took the proxy
from 371 MB to 1,088 MB), and its `max_request_size_mb` is an Enterprise feature that checks nothing without a
licence (proxy/auth/auth_utils.py). The limit is Anthropic's own for the Messages API, 32 MB ("Request size
limits"), so no request Claude Code or an SDK may send to Anthropic is refused here. A declared Content-Length over
it is refused at once; a chunked body (whatever Content-Length it also declares: h11 frames it by
Transfer-Encoding) is counted as it arrives and refused once it passes the limit. uvicorn (h11) never delivers more
than a declared Content-Length otherwise.

LiteLLM 1.108.7 routes `/v1/chat/completions` and `/completions` on a `?model=` query parameter when one is given,
while its key checks read the body's `model` (proxy_server.py, chat_completion(model=...)): a key could reach a model
outside its list. The gateway's clients name the model in the body, so any `model` query parameter is refused, and so
are the routes that take the model from the path.

Answers to requests that came through the ALB (it always sets X-Forwarded-For; the operators' tunnel and
VictoriaMetrics reach the task directly) lose LiteLLM's own headers (`x-litellm-*`: its version, the deployment, the
upstream's address) and the upstream's headers LiteLLM relays (`llm_provider-*`), and a redirect points at a path,
not at the host LiteLLM saw (behind CloudFront, the origin's internal name).

custom_hooks.py installs the gate around LiteLLM's application when the proxy loads it at start-up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 32 * 1000 * 1000
# Google-style routes, where LiteLLM takes the model from the path (`/models/<id>:generateContent`,
# `:streamGenerateContent`, `:countTokens`; proxy/google_endpoints): the body's model and the key's list never see it.
MODEL_IN_PATH = re.compile(r"/models/[^/]*:")


async def _refuse(send: Send, status: int, kind: str, message: str) -> None:
    """An error both SDKs read: Anthropic's shape (type: error, error.type) carries OpenAI's (error.message)."""
    body = json.dumps({"type": "error", "error": {"type": kind, "message": message, "code": status}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    return next((value.decode("latin-1") for key, value in scope.get("headers", []) if key.lower() == name), None)


INTERNAL_HEADER_PREFIXES = (b"x-litellm-", b"llm_provider-")


def _path_only(location: bytes) -> bytes:
    """http://host/path?query -> /path?query; a relative location stays as it is."""
    return b"/" + location.split(b"://", 1)[1].partition(b"/")[2] if b"://" in location else location


def _for_outsiders(send: Send) -> Send:
    """`send`, with LiteLLM's and the upstream's headers dropped and an absolute redirect made a path."""
    async def filtered(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [
                (key, _path_only(value) if key.lower() == b"location" else value)
                for key, value in message.get("headers", []) if not key.lower().startswith(INTERNAL_HEADER_PREFIXES)]}
        await send(message)
    return filtered


class RequestGate:
    def __init__(self, app: App, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self._refusal(scope)
        if refusal:
            return await _refuse(send, *refusal)
        if _header(scope, b"x-forwarded-for") is not None:
            send = _for_outsiders(send)
        # With both, h11 frames the body by Transfer-Encoding: its length is unknown whatever Content-Length says.
        if _header(scope, b"transfer-encoding") is not None:
            return await self._counted(scope, receive, send)
        return await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        """(status, error type, message) for a request refused on its head alone."""
        if "model" in parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            return 400, "invalid_request_error", "name the model in the request body, not in the query string"
        if MODEL_IN_PATH.search(scope.get("path", "")):
            return 404, "not_found_error", "Google's generateContent routes are not served: use /v1/messages"
        declared = _header(scope, b"content-length")
        if declared is not None and not declared.isdigit():
            return 400, "invalid_request_error", "Content-Length is not a number"
        if declared is not None and int(declared) > self.max_body_bytes:
            return 413, "request_too_large", self._too_large()
        return None

    def _too_large(self) -> str:
        return f"request body over {self.max_body_bytes // 1_000_000} MB, this gateway's limit (Anthropic's own)"

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A body of unknown length, read here up to the limit and handed on whole (never more than the limit)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return await _refuse(send, 413, "request_too_large", self._too_large())
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


INSTALLED = "_llm_gateway_request_gate"


def install(app: Any) -> None:
    """Put the gate in front of a Starlette/FastAPI application, once (marked on the application: this module may be
    loaded more than once). Starlette builds the middleware stack at the application's first call, the lifespan's,
    which is when LiteLLM loads its callbacks: the built stack is wrapped; one not built yet is wrapped when it is."""
    if getattr(app, INSTALLED, False):
        return
    setattr(app, INSTALLED, True)
    stack = app.middleware_stack
    if stack is not None:
        app.middleware_stack = RequestGate(stack)
        return
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: RequestGate(build())
