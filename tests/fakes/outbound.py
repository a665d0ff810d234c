"""A forward proxy on loopback that refuses everything and remembers what was asked: the process under test gets
it as HTTP(S)_PROXY, so any attempt to reach the internet is recorded instead of leaving the machine."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.local_server import LocalServer


class OutboundTrap:
    def __init__(self) -> None:
        self.attempts: list[str] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def _refuse(self) -> None:
                trap.attempts.append(f"{self.command} {self.path}")
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_CONNECT = do_GET = do_POST = do_HEAD = _refuse  # noqa: N815 - http.server's method names

            def log_message(self, *args: Any) -> None:
                pass

        self._http = LocalServer(Handler)
        self.url = self._http.url

    def environment(self) -> dict[str, str]:
        """Proxy settings for a process: everything but loopback goes to the trap."""
        names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")
        return {**dict.fromkeys(names, self.url), "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost"}

    def close(self) -> None:
        self._http.close()
