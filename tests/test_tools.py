"""Tools around a deployed gateway: Claude Code setups by tier, the tunnel and the Automation API wrapper (people
and budgets: test_people.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from components import litellm_config
from offline.engine import ROOT_DIR, Graph, project_name, stack_config
from settings import MODEL_CATALOG, load_settings
from tools import automation, tunnel, users
from tools.people import parse_people


def dev_settings() -> Any:
    return load_settings(project_name(), "dev", stack_config("dev"))


def test_dated_names_match_the_aliases_the_proxy_serves() -> None:
    config = yaml.safe_load(litellm_config.render(list(MODEL_CATALOG), shared_cache=False))
    aliases = config["router_settings"]["model_group_alias"]
    assert {alias: target["model"] for alias, target in aliases.items()} == {
        m.dated_name: name for name, m in MODEL_CATALOG.items()}


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
    (person,) = parse_people(dev_settings(), {"people": {"x": {"tier": tier}}}, "test")
    allowed = set(person.models)
    assert {v for k, v in setup.items() if "MODEL" in k} <= allowed


def test_the_setup_prints_as_shell_lines_and_settings_json(capsys: pytest.CaptureFixture[str]) -> None:
    users.print_setup(users.claude_code_setup(dev_settings(), "test", "https://gw", "sk-1"))
    printed = capsys.readouterr().out
    assert "export ANTHROPIC_MODEL=claude-haiku-4-5" in printed
    settings_json = json.loads(printed[printed.index("{"):])
    assert settings_json["env"]["ANTHROPIC_AUTH_TOKEN"] == "sk-1"
