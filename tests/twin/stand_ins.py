"""What the twin's hosts talk to: AWS's public endpoints (TLS, a test CA), the EC2 API the NAT boot calls (judged
against the planned instance role), the instance metadata service (IMDSv2), and plain listeners in private hosts.

Every answer carries this run's token, so a test knows it reached its own stand-in and nothing else.
"""

from __future__ import annotations

import json
import secrets
import socket
import socketserver
import ssl
import subprocess
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.twin.netns import inside

from iam_logic import request_allowed

TOKEN = secrets.token_hex(8)


@dataclass(frozen=True)
class TestCa:
    bundle: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self, check_hostname: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.bundle))
        context.check_hostname = check_hostname
        return context


def make_ca(directory: Path, names: list[str]) -> TestCa:
    """A CA and one server certificate naming every endpoint, made with openssl."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=twin test CA",
            "-keyout", "ca.key", "-out", "ca.pem")
    (directory / "san.ext").write_text("subjectAltName=" + ",".join(f"DNS:{n}" for n in names) + "\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=aws stand-in", "-keyout", "server.key",
            "-out", "server.csr")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days",
            "2", "-extfile", "san.ext", "-out", "server.pem")
    return TestCa(directory / "ca.pem", directory / "server.pem", directory / "server.key")


def _bound(namespace: str, address: str, port: int) -> socket.socket:
    def bind() -> socket.socket:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, port))
        server.listen(64)
        return server
    return inside(namespace, bind)


class BannerListener:
    """Accepts on `address:port` in `namespace` and answers each connection with who it is and who called."""

    def __init__(self, namespace: str, address: str, port: int, host: str, tls: ssl.SSLContext | None = None):
        self.host, self._tls = host, tls
        self._socket = _bound(namespace, address, port)
        threading.Thread(target=self._serve, daemon=True, name=f"listen-{host}-{port}").start()

    def _serve(self) -> None:
        while True:
            try:
                connection, (peer, _) = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection, peer), daemon=True).start()

    def _answer(self, connection: socket.socket, peer: str) -> None:
        try:
            with connection:
                connection.settimeout(5)
                stream = self._tls.wrap_socket(connection, server_side=True) if self._tls else connection
                stream.sendall(json.dumps({"host": self.host, "peer": peer, "token": TOKEN}).encode() + b"\n")
        except OSError:
            pass

    def close(self) -> None:
        self._socket.close()


def call(namespace: str, address: str, port: int, *, timeout: float, tls: ssl.SSLContext | None = None,
         server_name: str | None = None, source_address: str | None = None) -> dict[str, Any] | None:
    """Connect from `namespace` (from `source_address` there, if given); the stand-in's answer, or None when nothing
    answered (dropped or refused)."""
    def attempt() -> dict[str, Any] | None:
        try:
            with socket.create_connection((address, port), timeout=timeout,
                                          source_address=(source_address, 0) if source_address else None) as raw:
                stream = tls.wrap_socket(raw, server_hostname=server_name) if tls else raw
                answer = json.loads(stream.makefile().readline())
        except OSError:
            return None
        return answer if answer.get("token") == TOKEN else {"foreign": answer}
    return inside(namespace, attempt)


# --- the EC2 API ------------------------------------------------------------------------------------------------

@dataclass
class Ec2Call:
    action: str
    params: dict[str, str]
    allowed: bool
    outcome: str


@dataclass
class Ec2World:
    """What the EC2 stand-in knows and does: resources by id with their tags, the role behind each access key, and
    what to do in the twin when a call succeeds."""

    region: str
    account_id: str
    role_documents: dict[str, list[dict[str, Any]]]
    tags: dict[str, dict[str, str]]
    effects: dict[str, Callable[[dict[str, str]], str | None]]
    # Action -> how many of its next calls to refuse as UnauthorizedOperation, as IAM does while a role propagates.
    refuse: dict[str, int] = field(default_factory=dict)
    # Interface id -> the instance it is attached to (IAM also authorizes that instance for calls on the interface).
    attachments: dict[str, str] = field(default_factory=dict)
    calls: list[Ec2Call] = field(default_factory=list)

    def arn(self, kind: str, resource_id: str) -> str:
        return f"arn:aws:ec2:{self.region}:{self.account_id}:{kind}/{resource_id}"

    def resources(self, action: str, params: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
        """The resources IAM authorizes for each call (Service Authorization Reference, Amazon EC2 actions)."""
        named = {"InstanceId": "instance", "NetworkInterfaceId": "network-interface", "AllocationId": "elastic-ip"}
        ids = {kind: params[key] for key, kind in named.items() if key in params}
        if "network-interface" in ids and ids["network-interface"] in self.attachments:
            ids.setdefault("instance", self.attachments[ids["network-interface"]])
        return [(self.arn(kind, resource_id), self.tags.get(resource_id, {})) for kind, resource_id in ids.items()]

    def handle(self, access_key: str, scope_region: str, params: dict[str, str]) -> tuple[int, str]:
        action = params.pop("Action", "")
        params.pop("Version", None)
        documents = self.role_documents.get(access_key)
        allowed = documents is not None and request_allowed(documents, f"ec2:{action}",
                                                            self.resources(action, params))
        refusal = self._refusal(action, params, allowed, scope_region)
        self.calls.append(Ec2Call(action, params, allowed, refusal[1] if refusal else "ok"))
        if refusal:
            status, code, message = refusal
            return status, (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
                            f"</Errors><RequestID>{TOKEN}</RequestID></Response>")
        body = {"AssociateAddress": "<associationId>eipassoc-0twin</associationId>",
                "AttachNetworkInterface": "<attachmentId>eni-attach-0twin</attachmentId>"}.get(action,
                                                                                              "<return>true</return>")
        return 200, (f'<{action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
                     f"<requestId>{TOKEN}</requestId>{body}</{action}Response>")

    def _refusal(self, action: str, params: dict[str, str], allowed: bool,
                 scope_region: str) -> tuple[int, str, str] | None:
        """(status, error code, message) when the call fails; otherwise its effect has been applied."""
        if scope_region != self.region:
            return 400, "AuthFailure", f"signed for {scope_region}, not {self.region}"
        if self.refuse.get(action, 0) > 0:
            self.refuse[action] -= 1
            return 403, "UnauthorizedOperation", "refused (the role is still propagating)"
        if not allowed:
            return 403, "UnauthorizedOperation", "denied by the planned instance role"
        if action not in self.effects:
            return 400, "InvalidAction", f"{action} is not served here"
        problem = self.effects[action](params)
        return (400, "InvalidParameterValue", problem) if problem else None


class _Handler(BaseHTTPRequestHandler):
    """A stand-in's handler: one way to answer, and no log lines in the test's output."""

    def answer(self, status: int, body: str, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


def _ec2_handler(world: Ec2World) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            params = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            # Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/ec2/aws4_request, ...
            credential = self.headers.get("Authorization", "").split("Credential=")[-1].split(",")[0].split("/")
            key, region = (credential[0], credential[2]) if len(credential) >= 4 else ("", "")
            self.answer(*world.handle(key, region, params), content_type="text/xml")

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        """As HTTPServer's, without its reverse DNS lookup of the address (no resolver in the twin's namespaces)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class HttpStandIn:
    """A threaded HTTP(S) server whose socket lives in `namespace`."""

    def __init__(self, namespace: str, address: str, port: int, handler: type[BaseHTTPRequestHandler],
                 tls: ssl.SSLContext | None = None) -> None:
        self.server = inside(namespace, lambda: _Server((address, port), handler))
        if tls:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True, name=f"http-{address}").start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def ec2_api(namespace: str, address: str, world: Ec2World, ca: TestCa) -> HttpStandIn:
    return HttpStandIn(namespace, address, 443, _ec2_handler(world), ca.server_context())


# --- the instance metadata service --------------------------------------------------------------------------------

def _imds_handler(metadata: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    """IMDSv2 only (the launch template requires tokens): a PUT for a token, then GETs that present it."""
    token = secrets.token_hex(16)

    class Handler(_Handler):
        def do_PUT(self) -> None:
            if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self.answer(400, "")
            return self.answer(200, token)

        def do_GET(self) -> None:
            if self.headers.get("X-aws-ec2-metadata-token") != token:
                return self.answer(401, "")
            value = metadata.get(self.path.removeprefix("/latest/meta-data/").rstrip("/"))
            return self.answer(404 if value is None else 200, value or "")

    return Handler


def imds(namespace: str, metadata: dict[str, str]) -> HttpStandIn:
    return HttpStandIn(namespace, "169.254.169.254", 80, _imds_handler(metadata))
