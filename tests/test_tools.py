"""Tools around a deployed gateway: user budgets by tier (checked against LiteLLM's own request model) and the
Automation API wrapper."""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from components import litellm_config
from offline.engine import ROOT_DIR, Graph, project_name, stack_config
from settings import MODEL_CATALOG, load_settings
from tools import automation, tunnel, users

LITELLM_PYTHON = ROOT_DIR / ".venv-litellm" / "bin" / "python"


def dev_settings() -> Any:
    return load_settings(project_name(), "dev", stack_config("dev"))


def test_a_developer_gets_ten_dollars_a_month_on_haiku_and_sonnet() -> None:
    request = users.user_request(dev_settings(), "alice@example.com", "developer")
    assert (request["max_budget"], request["budget_duration"]) == (10, "30d")
    assert set(request["models"]) == {"claude-haiku-4-5", "claude-sonnet-4-5", "claude-haiku-4-5-20251001",
                                      "claude-sonnet-4-5-20250929"}


def test_an_admin_is_unlimited_and_a_tester_gets_a_dollar_on_haiku() -> None:
    admin = users.user_request(dev_settings(), "root", "admin")
    assert "max_budget" not in admin
    # No tier's key is an admin credential: the key in someone's Claude Code must not manage the proxy.
    assert {users.user_request(dev_settings(), "x", tier)["user_role"] for tier in ("admin", "developer", "test")} \
        == {"internal_user"}
    assert len(admin["models"]) == 2 * len(MODEL_CATALOG)
    tester = users.user_request(dev_settings(), "ci", "test")
    assert tester["max_budget"] == 1 and set(tester["models"]) == {"claude-haiku-4-5", "claude-haiku-4-5-20251001"}


def test_an_unknown_tier_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown tier 'vip'.*'admin', 'developer', 'test'"):
        users.user_request(dev_settings(), "bob", "vip")


def test_requests_are_valid_for_litellms_own_user_model() -> None:
    assert LITELLM_PYTHON.exists(), "run `make setup`"
    bodies = [users.user_request(dev_settings(), "u", tier) for tier in ("admin", "developer", "test")]
    script = ("import json, sys\nfrom litellm.proxy._types import NewUserRequest\n"
              "for body in json.load(sys.stdin): NewUserRequest.model_validate(body)\n")
    result = subprocess.run([str(LITELLM_PYTHON), "-c", script], input=json.dumps(bodies), capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]


def test_dated_names_match_the_aliases_the_proxy_serves() -> None:
    config = yaml.safe_load(litellm_config.render(list(MODEL_CATALOG)))
    aliases = config["router_settings"]["model_group_alias"]
    assert {alias: target["model"] for alias, target in aliases.items()} == {
        m.dated_name: name for name, m in MODEL_CATALOG.items()}


def test_add_user_posts_to_the_admin_api_with_the_master_key() -> None:
    seen: list[dict[str, Any]] = []

    class Admin(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "auth": self.headers["Authorization"], "body": body})
            payload = json.dumps({"key": "sk-user-key", "user_id": body["user_id"]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Admin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        key = users.add_user(f"http://127.0.0.1:{server.server_address[1]}/", "sk-master", dev_settings(),
                             "alice", "developer")
    finally:
        server.shutdown()
    assert key == "sk-user-key"
    assert seen == [{"path": "/user/new", "auth": "Bearer sk-master",
                     "body": users.user_request(dev_settings(), "alice", "developer")}]


def test_automation_applies_the_pack_and_the_stacks_policy_config(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, Any] = {}

    class FakeStack:
        def preview(self, **options: Any) -> str:
            calls["preview"] = options
            return "previewed"

    def fake_select(stack_name: str, work_dir: str) -> FakeStack:
        calls["select"] = (stack_name, work_dir)
        return FakeStack()

    monkeypatch.setattr(automation.auto, "create_or_select_stack", fake_select)
    assert automation.preview("prod") == "previewed"
    assert calls["select"] == ("prod", str(ROOT_DIR))
    assert calls["preview"]["policy_packs"] == [str(ROOT_DIR / "policies")]
    assert calls["preview"]["policy_pack_configs"] == [str(ROOT_DIR / "policies" / "config.prod.json")]
    assert automation.policy_options("sandbox")["policy_pack_configs"] == [], "no config file, none passed"


def test_automation_refuses_a_stack_without_a_file() -> None:
    with pytest.raises(ValueError, match=r"no Pulumi\.staging\.yaml"):
        automation.select("staging")


def test_the_tunnel_forwards_through_the_nat_instance_in_service(dev: Graph) -> None:
    calls: list[list[str]] = []

    def fake(command: list[str]) -> str:
        calls.append(command)
        return "i-0123456789abcdef0\n"

    command = tunnel.tunnel_command(dev.outputs, "litellm", None, "us-west-1", fake)
    (lookup,) = calls
    assert lookup[:3] == ["aws", "autoscaling", "describe-auto-scaling-groups"]
    assert dev.outputs["natGroupName"] in lookup and "InService" in " ".join(lookup)
    assert command[:5] == ["aws", "ssm", "start-session", "--target", "i-0123456789abcdef0"]
    assert command[command.index("--document-name") + 1] == "AWS-StartPortForwardingSessionToRemoteHost"
    parameters = json.loads(command[command.index("--parameters") + 1])
    assert parameters == {"host": ["litellm.dev.llm-gateway.internal"], "portNumber": ["4000"],
                          "localPortNumber": ["4000"]}


def test_the_tunnel_says_when_no_nat_instance_is_in_service(dev: Graph) -> None:
    with pytest.raises(RuntimeError, match="no NAT instance in service"):
        tunnel.tunnel_command(dev.outputs, "grafana", 3300, None, lambda command: "None\n")
    with pytest.raises(ValueError, match="unknown service 'ui'"):
        tunnel.tunnel_command(dev.outputs, "ui", None, None, lambda command: "i-1\n")


SETUP_KEYS = ("ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL",
              "ANTHROPIC_DEFAULT_HAIKU_MODEL")
HAIKU, SONNET, OPUS = "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-5"


@pytest.mark.parametrize(("tier", "expected"), [
    ("admin", dict(zip(SETUP_KEYS, (SONNET, OPUS, SONNET, HAIKU), strict=True))),
    ("developer", dict(zip(SETUP_KEYS, (SONNET, SONNET, SONNET, HAIKU), strict=True))),
    ("test", dict(zip(SETUP_KEYS, (HAIKU, HAIKU, HAIKU, HAIKU), strict=True))),
])
def test_each_tier_gets_a_claude_code_setup_that_asks_only_for_its_models(tier: str, expected: dict[str, str]) -> None:
    """Claude Code asks for claude-opus-4-8 / claude-sonnet-5 by default and for Opus when told `opus`: every name
    it may use is pinned to one the tier may use (a developer's `opus` is Sonnet)."""
    setup = users.claude_code_setup(dev_settings(), tier, "https://gw.example.com/", "sk-person")
    assert {k: setup[k] for k in expected} == expected
    assert setup["ANTHROPIC_BASE_URL"] == "https://gw.example.com" and setup["ANTHROPIC_AUTH_TOKEN"] == "sk-person"
    allowed = set(users.user_request(dev_settings(), "x", tier)["models"])
    assert {v for k, v in setup.items() if "MODEL" in k} <= allowed


def test_the_setup_prints_as_shell_lines_and_settings_json(capsys: pytest.CaptureFixture[str]) -> None:
    users.print_setup(users.claude_code_setup(dev_settings(), "test", "https://gw", "sk-1"))
    printed = capsys.readouterr().out
    assert "export ANTHROPIC_MODEL=claude-haiku-4-5" in printed
    settings_json = json.loads(printed[printed.index("{"):])
    assert settings_json["env"]["ANTHROPIC_AUTH_TOKEN"] == "sk-1"
