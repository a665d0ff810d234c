"""A fake Bedrock runtime on loopback: answers Converse and InvokeModel the way Bedrock does and records
every request (path, headers, body) so tests can check what LiteLLM sent."""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from tests.fakes.local_server import LocalServer

INPUT_TOKENS, OUTPUT_TOKENS = 1000, 500


def converse_reply(text: str) -> dict[str, Any]:
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": INPUT_TOKENS, "outputTokens": OUTPUT_TOKENS,
                      "totalTokens": INPUT_TOKENS + OUTPUT_TOKENS},
            "metrics": {"latencyMs": 42}}


def messages_reply(model: str, text: str) -> dict[str, Any]:
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS}}


def event_message(event_type: str, payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message (what ConverseStream sends): prelude, headers, JSON payload, CRCs."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"),
                        (":message-type", "event")):
        headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def converse_stream(text: str) -> bytes:
    usage = {"inputTokens": INPUT_TOKENS, "outputTokens": OUTPUT_TOKENS, "totalTokens": INPUT_TOKENS + OUTPUT_TOKENS}
    return b"".join([
        event_message("messageStart", {"role": "assistant"}),
        *(event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": word + " "}})
          for word in text.split()),
        event_message("contentBlockStop", {"contentBlockIndex": 0}),
        event_message("messageStop", {"stopReason": "end_turn"}),
        event_message("metadata", {"usage": usage, "metrics": {"latencyMs": 42}}),
    ])


def messages_stream(model: str, text: str) -> bytes:
    """InvokeModelWithResponseStream for Anthropic models: each Messages API event base64 in a `chunk` event."""
    events = [
        {"type": "message_start", "message": {**messages_reply(model, ""), "content": [],
                                              "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word + " "}}
          for word in text.split()),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": OUTPUT_TOKENS}},
        {"type": "message_stop"},
    ]
    return b"".join(event_message("chunk", {"bytes": base64.b64encode(json.dumps(e).encode()).decode()})
                    for e in events)


class FakeBedrock:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        # Faults are asked for by the test (fail_next), never read from request text: a real client's prompt
        # (Claude Code's system prompt says FAIL) must not trip them.
        self.pending_faults: list[tuple[int, str]] = []
        # Seconds every answer waits before its first byte (slow answers, slow first tokens).
        self.delay_seconds = 0.0
        # What every model says; None: "hello from <model>" ("" for a model that answers nothing).
        self.reply_text: str | None = None
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = unquote(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.requests.append({"path": path, "headers": headers, "body": json.loads(body or b"{}")})
                model = path.split("/")[2] if path.startswith("/model/") else ""
                time.sleep(fake.delay_seconds)
                said = f"hello from {model}" if fake.reply_text is None else fake.reply_text
                if fault := fake.take_fault():
                    self._reply({"message": f"fault asked for by the test: {fault[1]}"}, status=fault[0],
                                error=fault[1])
                elif path.endswith("/converse-stream"):
                    self._stream(converse_stream(said))
                elif path.endswith("/invoke-with-response-stream"):
                    self._stream(messages_stream(model, said))
                elif path.endswith("/count-tokens"):
                    self._reply({"inputTokens": INPUT_TOKENS})
                elif path.endswith("/converse"):
                    self._reply(converse_reply(said))
                elif path.endswith("/invoke"):
                    self._reply(messages_reply(model, said))
                else:
                    self._reply({"message": f"unsupported {path}"}, status=400)

            def _stream(self, data: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _reply(self, payload: dict[str, Any], status: int = 200, error: str = "") -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if error:
                    self.send_header("x-amzn-ErrorType", error)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = LocalServer(Handler)
        self.url = self._http.url

    def fail_next(self, count: int = 1, status: int = 400, error: str = "ValidationException") -> None:
        """The next `count` calls answer `status` with Bedrock's error type (400 ValidationException: a request it
        rejects; 429 ThrottlingException; 500 InternalServerException)."""
        with self._lock:
            self.pending_faults += [(status, error)] * count

    def take_fault(self) -> tuple[int, str] | None:
        with self._lock:
            return self.pending_faults.pop(0) if self.pending_faults else None

    def close(self) -> None:
        self._http.close()
