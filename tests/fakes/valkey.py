"""A stand-in for ElastiCache Valkey with transit encryption required and an AUTH token: Debian's redis-server with
a TLS port only (no plain one) and a password, its certificate signed by a CA made for the test (ElastiCache's chain
to Amazon's roots, in miniature)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.live import serving

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
TOKEN = "cachetoken0123456789abcdef"


@dataclass(frozen=True)
class Valkey:
    directory: Path
    port: int

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    def cli(self, *command: str, password: str | None = TOKEN) -> str:
        """redis-cli over TLS, verifying the server against the test's CA; what it printed, errors included."""
        arguments = [REDIS_CLI, "-p", str(self.port), "--no-auth-warning", "--tls", "--cacert", str(self.ca)]
        result = subprocess.run([*arguments, *(["-a", password] if password else []), *command], capture_output=True,
                                text=True, timeout=10, check=False)
        return result.stdout + result.stderr

    def environment(self) -> dict[str, str]:
        """What LiteLLM's task gets for Valkey, pointed here; only the CA is the test's (AWS's verifies in AWS)."""
        return {"REDIS_HOST": "localhost", "REDIS_PORT": str(self.port), "REDIS_PASSWORD": TOKEN,
                "REDIS_SSL_CA_CERTS": str(self.ca)}


def _certificates(directory: Path) -> None:
    def openssl(*arguments: str) -> None:
        subprocess.run(["openssl", *arguments], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=test cache CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=localhost")
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "server.crt", "-days", "1", "-extfile", "san.ext")


@contextmanager
def valkey_server(directory: Path, port: int) -> Iterator[Valkey]:
    assert REDIS_SERVER and REDIS_CLI, "install Debian's redis-server (make tools does)"
    _certificates(directory)
    stand_in = Valkey(directory, port)
    with serving([REDIS_SERVER, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--tls-cert-file",
                  "server.crt", "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.crt", "--tls-auth-clients",
                  "no", "--requirepass", TOKEN, "--save", "", "--appendonly", "no", "--dir", str(directory)], None,
                 lambda: stand_in.cli("PING").strip() == "PONG", 10, "redis-server", cwd=directory):
        yield stand_in
