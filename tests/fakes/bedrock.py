"""A fake Bedrock runtime on loopback: answers Converse and InvokeModel the way Bedrock does and records
every request (path, headers, body) so tests can check what LiteLLM sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

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


class FakeBedrock:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = unquote(self.path)
                fake.requests.append({"path": path, "headers": dict(self.headers), "body": json.loads(body or b"{}")})
                model = path.split("/")[2] if path.startswith("/model/") else ""
                if path.endswith("/converse"):
                    self._reply(converse_reply(f"hello from {model}"))
                elif path.endswith("/invoke"):
                    self._reply(messages_reply(model, f"hello from {model}"))
                else:
                    self._reply({"message": f"unsupported {path}"}, status=400)

            def _reply(self, payload: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
