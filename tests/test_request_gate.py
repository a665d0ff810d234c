"""The request gate's own mechanics, as plain ASGI (the real proxy runs it in tests/test_images.py): what it refuses
on the request's head, how it counts a body of unknown length, what the application then receives, and how it is
put in front of a started application."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from typing import Any

import pytest

from offline.engine import ROOT_DIR

_spec = importlib.util.spec_from_file_location("request_gate", ROOT_DIR / "images" / "litellm" / "request_gate.py")
gate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gate)
LIMIT = 1000


class App:
    """An application that reads the whole body, as LiteLLM does, and answers 200."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def run(headers: dict[str, str], chunks: list[bytes], *, query: str = "", path: str = "/v1/messages", app: Any = None,
        sent: list[dict] | None = None, limit: int | None = LIMIT) -> tuple[int, dict | None, Any, int]:
    """(status, JSON error or None, the application, how many body messages the gate or app took); the messages
    sent go to `sent` if given; `limit` None is the gate as the proxy installs it."""
    app, sent, taken = app or App(), [] if sent is None else sent, 0
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> dict:
        nonlocal taken
        taken += 1
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "query_string": query.encode(),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    # A loop of its own, never made current: asyncio.run would leave this thread without one for later tests.
    loop = asyncio.new_event_loop()
    try:
        the_gate = gate.RequestGate(app) if limit is None else gate.RequestGate(app, limit)
        loop.run_until_complete(the_gate(scope, receive, send))
    finally:
        loop.close()
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body) if sent[0]["status"] >= 400 else None, app, taken


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    status, error, app, taken = run({"Content-Length": str(LIMIT + 1)}, [b"x" * (LIMIT + 1)])
    assert (status, taken, app.bodies) == (413, 0, [])
    assert error["type"] == "error" and error["error"]["type"] == "request_too_large"


def test_the_gateways_limit_is_anthropics_32_mb() -> None:
    """Anthropic's Messages API refuses bodies over 32 MB ("Request size limits"), so nothing Claude Code or an SDK
    may send is refused here, and nothing larger is read."""
    assert run({"Content-Length": "32000001"}, [b"{}"], limit=None)[0] == 413
    assert run({"Content-Length": "32000000"}, [b"{}"], limit=None)[0] == 200


def test_a_declared_length_at_the_limit_passes_whole() -> None:
    status, _, app, _ = run({"Content-Length": str(LIMIT)}, [b"x" * 600, b"y" * 400])
    assert status == 200 and app.bodies == [b"x" * 600 + b"y" * 400]


@pytest.mark.parametrize(("chunks", "status"), [
    ([b"a" * 400, b"b" * 600], 200),
    ([b"a" * 400, b"b" * 601], 413),
    ([b"a" * (LIMIT + 1)], 413),
])
def test_a_chunked_body_is_counted_as_it_arrives(chunks: list[bytes], status: int) -> None:
    answered, _, app, taken = run({"Transfer-Encoding": "chunked"}, chunks)
    assert answered == status
    assert app.bodies == ([b"".join(chunks)] if status == 200 else [])
    assert taken == len(chunks), "nothing read past the chunk that crossed the limit"


@pytest.mark.parametrize("query", ["model=claude-opus-4-5", "x=1&model=claude-opus-4-5", "model=", "model=a&model=b"])
def test_a_model_in_the_query_string_is_refused(query: str) -> None:
    status, error, app, _ = run({"Content-Length": "2"}, [b"{}"], query=query)
    assert (status, app.bodies) == (400, []) and "query string" in error["error"]["message"]


@pytest.mark.parametrize("path", ["/models/claude-opus-4-5:generateContent", "/v1beta/models/x:streamGenerateContent",
                                  "/v1/models/claude-opus-4-5:countTokens"])
def test_routes_that_take_the_model_from_the_path_are_refused(path: str) -> None:
    status, error, app, _ = run({"Content-Length": "2"}, [b"{}"], path=path)
    assert (status, app.bodies) == (404, []) and "generateContent" in error["error"]["message"]


def test_other_query_parameters_and_bodies_without_framing_pass() -> None:
    assert run({"Content-Length": "2"}, [b"{}"], query="beta=true")[0] == 200
    assert run({}, [b""])[0] == 200


def test_a_length_that_is_not_a_number_is_refused() -> None:
    assert run({"Content-Length": "-1"}, [b""])[0] == 400


class Answering:
    """An application answering with LiteLLM's and the upstream's headers, and a redirect to its own host."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 307, "headers": [
            (b"x-litellm-version", b"1.108.7"), (b"X-LiteLLM-Model-Api-Base", b"https://bedrock-runtime"),
            (b"llm_provider-x-amzn-requestid", b"abc"), (b"request-id", b"req_1"),
            (b"location", b"http://internal-gw-alb-123.us-west-1.elb.amazonaws.com/v1/messages?beta=true")]})
        await send({"type": "http.response.body", "body": b""})


def test_answers_through_the_alb_lose_internal_headers_and_absolute_redirects() -> None:
    sent: list[dict] = []
    run({"Content-Length": "0", "X-Forwarded-For": "192.0.2.1"}, [b""], app=Answering(), sent=sent)
    assert sent[0]["headers"] == [(b"request-id", b"req_1"), (b"location", b"/v1/messages?beta=true")]


def test_answers_through_the_tunnel_keep_them() -> None:
    sent: list[dict] = []
    run({"Content-Length": "0"}, [b""], app=Answering(), sent=sent)
    assert len(sent[0]["headers"]) == 5


def test_a_chunked_body_is_counted_even_with_a_content_length() -> None:
    """h11 frames such a body by Transfer-Encoding: a small Content-Length must not let a large body through."""
    status, _, app, _ = run({"Content-Length": "5", "Transfer-Encoding": "chunked"}, [b"a" * 600, b"b" * 600])
    assert (status, app.bodies) == (413, [])


def test_a_second_copy_of_the_module_does_not_wrap_again() -> None:
    again = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(again)

    class Started:
        middleware_stack = "stack"

    started = Started()
    gate.install(started)
    again.install(started)
    assert isinstance(started.middleware_stack, gate.RequestGate) and started.middleware_stack.app == "stack"


def test_install_wraps_a_built_stack_or_the_builder_once() -> None:
    class Started:
        def __init__(self, stack: Any) -> None:
            self.middleware_stack = stack

        def build_middleware_stack(self) -> Any:
            return "built"

    started = Started("stack")
    gate.install(started)
    gate.install(started)
    assert isinstance(started.middleware_stack, gate.RequestGate) and started.middleware_stack.app == "stack"
    not_yet = Started(None)
    gate.install(not_yet)
    built = not_yet.build_middleware_stack()
    assert isinstance(built, gate.RequestGate) and built.app == "built"
