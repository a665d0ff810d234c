"""A stand-in for what sits in front of LiteLLM in AWS, for the smoke test: CloudFront's viewer function (inference
paths through, everything else 403), Grafana's login page, and the ALB (403 to anything without the origin header).
It is not the edge: the real viewer function is tested in node (test_edge_function.py), the ALB's rules on the
planned graph; it lets through the same (method, path) pairs (components/edge/public_api.py). `leaks` opens paths
the real edge closes, so a test can see the smoke test catch it."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from components.edge.public_api import is_public
from tests.fakes.local_server import LocalServer

ORIGIN_HEADER = "X-Origin-Verify"
FORWARDED = ("Authorization", "Content-Type", "anthropic-version", "x-api-key")


class EdgeStandIn:
    def __init__(self, upstream: str, model_names: Sequence[str], leaks: tuple[str, ...] = (),
                 grafana_viewer: bool = False) -> None:
        """`model_names`: what the stack serves; `grafana_viewer`: the client's address is in the edge's Grafana list
        (else /grafana is 403, as at the real edge with grafanaCidrs empty)."""
        self.upstream, self.leaks, self.secret = upstream.rstrip("/"), leaks, "origin-secret"
        self.model_names = model_names
        self.grafana_viewer = grafana_viewer
        edge = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                edge.serve(self)

            def do_POST(self) -> None:
                edge.serve(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = LocalServer(Handler)
        self.url = self._http.url
        # The ALB's own address: the same server, reached without CloudFront's header.
        self.origin_url = f"http://localhost:{self._http.port}"

    def close(self) -> None:
        self._http.close()

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        if handler.headers.get("Host", "").startswith("localhost"):  # straight to the "ALB"
            self._answer(handler, 403, b"Forbidden")
        elif path == "/grafana/login" and self.grafana_viewer:
            self._answer(handler, 200, b"<!doctype html><title>Grafana</title>")
        elif is_public(handler.command, unquote(path), self.model_names) or path in self.leaks:
            self._forward(handler)
        else:
            self._answer(handler, 403, b"Forbidden")

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        request = urllib.request.Request(
            self.upstream + handler.path, data=handler.rfile.read(length) if length else None,
            method=handler.command,
            headers={**{h: handler.headers[h] for h in FORWARDED if handler.headers.get(h)},
                     ORIGIN_HEADER: self.secret})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                self._answer(handler, response.status, response.read(), response.headers.get("Content-Type"))
        except urllib.error.HTTPError as error:
            self._answer(handler, error.code, error.read(), error.headers.get("Content-Type"))

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type or "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
