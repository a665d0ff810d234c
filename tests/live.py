"""The real binaries the image tests run, started the way the stack runs them: the LiteLLM proxy with the config and
environment the plan bakes into its image and task definition (against a fake Bedrock), and VictoriaMetrics with
the image's scrape config (intervals shortened). Plus the HTTP helpers the tests talk to them with.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from offline.engine import ROOT_DIR, Graph
from tests.stacks import container, env

LITELLM = ROOT_DIR / ".venv-litellm" / "bin" / "litellm"


def litellm_answer(script: str, asked: Any = None) -> Any:
    """What a script run by LiteLLM's interpreter (its own packages) prints as JSON on its last line; `asked` goes
    to its standard input as JSON."""
    done = subprocess.run([str(LITELLM.parent / "python"), "-c", script], capture_output=True, text=True,
                          input=None if asked is None else json.dumps(asked), timeout=120, check=True,
                          env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    return json.loads(done.stdout.strip().splitlines()[-1])
VM_BINARY = shutil.which("victoria-metrics")
def free_port() -> int:
    """A port nothing listens on now, from the OS (another checkout's LiteLLM may hold 4000)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Where this test worker runs LiteLLM and VictoriaMetrics (the scrape config's ports are moved to them).
PROXY_PORT, VM_PORT = free_port(), free_port()
PROXY = f"http://127.0.0.1:{PROXY_PORT}"
VM = f"http://127.0.0.1:{VM_PORT}"
# How the scrape config finds LiteLLM (dns_sd_configs on LITELLM_HOST).
SCRAPE_ENV = {"LITELLM_HOST": "localhost"}
SCRAPE_CONFIG = ROOT_DIR / "images" / "victoriametrics" / "scrape.yml"
FAKE_AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "fake-secret"}


def matches_log_filter(pattern: str, line: str) -> bool:
    """CloudWatch Logs' filter pattern for unstructured events, in the two forms the stacks use: one quoted phrase,
    or `?"a" ?"b"` (any of them); a phrase matches anywhere in the event, case-sensitively."""
    phrases = re.findall(r'\?"([^"]+)"', pattern) or re.findall(r'^"([^"]+)"$', pattern)
    assert phrases, f"not a form this evaluator knows: {pattern}"
    return any(phrase in line for phrase in phrases)


def wait_until(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def call(path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
         base: str = PROXY) -> tuple[int, Any, dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json",
                                                                       **(headers or {})})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as response:
            raw = response.read()
            return response.status, _decode(raw), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, _decode(error.read()), dict(error.headers)


def query(expr: str, base: str = VM) -> list[dict[str, Any]]:
    """An instant query over everything ingested so far: VictoriaMetrics makes new series searchable only when it
    flushes its in-memory index (about 10 s on its own), so the test asks it to flush first."""
    urllib.request.urlopen(f"{base}/internal/force_flush", timeout=10).read()
    status, body, _ = call("/api/v1/query?" + urllib.parse.urlencode({"query": expr}), base=base)
    assert status == 200, body
    return body["data"]["result"]


def planned_config_path(graph: Graph) -> Path:
    """The config.yaml in the build context the plan hands to Docker for LiteLLM's image (rendered per stack)."""
    return ROOT_DIR / graph.one("docker:index/image:Image", "litellm-image").inputs["build"]["context"] / "config.yaml"


def planned_environment(graph: Graph) -> dict[str, str]:
    """The environment the task definition plans for LiteLLM, but the database (none runs here)."""
    return {k: v for k, v in env(container(graph, "litellm")).items() if not k.startswith("DATABASE_")}


@contextmanager
def serving(command: Sequence[str], log: Path | None, ready: Callable[[], bool], seconds: float, what: str,
            **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A server the test runs: started with its output in `log` (or discarded), yielded once `ready()` holds while
    the child still runs (an answer after it died came from someone else on its port), stopped (SIGTERM) at the
    end."""
    with log.open("w") if log else open(os.devnull, "w") as output:
        process = subprocess.Popen(list(command), stdout=output, stderr=subprocess.STDOUT, **popen)
    try:
        wait_until(lambda: process.poll() is None and ready(), seconds,
                   f"{what} to start" + (f" (log: {log})" if log else ""))
        assert process.poll() is None, f"{what} exited; what answered is another process on its port"
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=20)


@contextmanager
def litellm_proxy(graph: Graph, port: int, environment: Mapping[str, str], log: Path) -> Iterator[
        subprocess.Popen[bytes]]:
    """The proxy on `port`, started and answering; `environment` adds the test's (master key, Bedrock endpoint)."""
    assert LITELLM.exists(), "run `make test`: it installs the LiteLLM proxy into .venv-litellm"
    env = {**os.environ, **planned_environment(graph), **FAKE_AWS_CREDENTIALS, **environment}
    with serving([str(LITELLM), "--config", str(planned_config_path(graph)), "--port", str(port), "--num_workers",
                  "1"], log, lambda: call("/health/liveliness", base=f"http://127.0.0.1:{port}")[0] == 200, 60,
                 "LiteLLM", env=env) as process:
        yield process


@contextmanager
def victoriametrics(workdir: Path, port: int, litellm_port: int = PROXY_PORT) -> Iterator[None]:
    """The image's scrape config with only the intervals shortened (scrapes, DNS discovery), so a test sees
    several scrapes quickly; LiteLLM's port and VictoriaMetrics' own moved where the test runs them."""
    assert VM_BINARY, "install Debian's victoria-metrics (`make tools` does)"
    scrape = yaml.safe_load(SCRAPE_CONFIG.read_text())
    scrape["global"].update(scrape_interval="1s", scrape_timeout="1s")
    scrape["scrape_configs"][0]["dns_sd_configs"][0]["port"] = litellm_port
    scrape["scrape_configs"][1]["static_configs"][0]["targets"] = [f"127.0.0.1:{port}"]
    (workdir / "scrape.yml").write_text(yaml.safe_dump(scrape))
    with serving([VM_BINARY, f"-storageDataPath={workdir / 'data'}", f"-httpListenAddr=:{port}",
                  f"-promscrape.config={workdir / 'scrape.yml'}", "-promscrape.dnsSDCheckInterval=1s",
                  "-search.latencyOffset=0s", "-search.disableCache"], workdir / "vm.log",
                 lambda: call("/health", base=f"http://127.0.0.1:{port}")[0] == 200, 30, "VictoriaMetrics",
                 env={**os.environ, **SCRAPE_ENV}):
        yield
