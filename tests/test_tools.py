"""Tools around a deployed gateway: Claude Code setups by tier, the tunnel, the smoke test's target and the Python
API (tools.automation: offline plan, validation before Pulumi starts, its wiring to the Automation API with a
stand-in for the CLI). People and budgets: test_people.py; the smoke checks against the real proxy: test_images.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from catalog import MODEL_CATALOG
from components import litellm_config
from offline.engine import ROOT_DIR, Graph, stack_settings
from people_file import parse_people
from tests.live import free_port
from tools import automation, smoke, tunnel, users
from tools.cli import ToolError


def dev_settings() -> Any:
    return stack_settings("dev")


def test_dated_names_match_the_aliases_the_proxy_serves() -> None:
    config = yaml.safe_load(litellm_config.render(list(MODEL_CATALOG), shared_cache=False))
    aliases = config["router_settings"]["model_group_alias"]
    assert {alias: target["model"] for alias, target in aliases.items()} == {
        m.dated_name: name for name, m in MODEL_CATALOG.items()}


# --- the Python API (tools.automation) ----------------------------------------------------------------------------

def test_the_offline_plan_takes_overrides_and_returns_what_the_plan_command_prints() -> None:
    plan = automation.plan("dev", {"litellm": {"maxCount": 3}})
    assert plan.settings.litellm.max_count == 3 and plan.settings.litellm.cpu == 512, "a section's other keys stay"
    assert plan.summary["counts"]["aws:elasticache/replicationGroup:ReplicationGroup"] == 1, "tasks share Valkey"
    assert not plan.blocked and [f.policy for f in plan.findings] == ["cloudfront-default-certificate"]
    assert set(plan.summary) == set(json.loads(subprocess.run(
        [sys.executable, "-m", "offline.plan", "dev", "--json"], cwd=ROOT_DIR, capture_output=True, text=True,
        check=True).stdout))


def test_bad_overrides_are_refused_with_the_key_before_pulumi_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(automation, "select", lambda stack: pytest.fail("Pulumi was started"))
    with pytest.raises(automation.InvalidSettingsError, match=r"llm-gateway:cache\.nodeType = 'large'"):
        automation.up("prod", {"cache": {"nodeType": "large"}})
    with pytest.raises(automation.UnknownStackError, match=r"no Pulumi\.staging\.yaml.*'dev', 'prod'"):
        automation.preview("staging")


def test_without_the_pulumi_cli_the_error_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(automation.shutil, "which", lambda name: None)
    with pytest.raises(automation.PulumiMissingError, match="Pulumi CLI is not on PATH"):
        automation.preview("dev")


class FakeStack:
    """Stands in for pulumi.automation.Stack: records what it is asked and plays back engine events."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.fail = fail

    def _events(self, options: dict[str, Any]) -> None:
        step = auto.StepEventMetadata(op=auto.OpType.CREATE, urn="urn:pulumi:dev::llm-gateway::aws:ec2/vpc:Vpc::gw-vpc",
                                      type="aws:ec2/vpc:Vpc", provider="")
        options["on_event"](auto.EngineEvent(sequence=1, timestamp=0, resource_pre_event=auto.ResourcePreEvent(step)))
        options["on_event"](auto.EngineEvent(sequence=2, timestamp=0, policy_event=auto.PolicyEvent(
            message="no tags", color="never", policy_name="required-tags", policy_pack_name="p",
            policy_pack_version="1", policy_pack_version_tag="1", enforcement_level="advisory",
            resource_urn=step.urn)))

    def up(self, **options: Any) -> Any:
        self.calls["up"] = {**options, "config": Path(options["config_file"]).read_text()
                            if options["config_file"] else None}
        self._events(options)
        if self.fail:
            raise auto.errors.CommandError(auto.CommandResult(stdout="", stderr="boom", code=255))
        return types.SimpleNamespace(summary=types.SimpleNamespace(resource_changes={"create": 1}),
                                     outputs={"gatewayUrl": auto.OutputValue("https://gw", False)})


@pytest.fixture
def fake_stack(monkeypatch: pytest.MonkeyPatch) -> FakeStack:
    fake = FakeStack()
    monkeypatch.setattr(automation.shutil, "which", lambda name: "/usr/bin/pulumi")
    monkeypatch.setattr(automation.auto, "create_or_select_stack", lambda stack_name, work_dir: fake)
    return fake


def test_up_passes_the_pack_overrides_and_progress_then_runs_the_smoke_test(
        fake_stack: FakeStack, monkeypatch: pytest.MonkeyPatch) -> None:
    passed = [smoke.Check("no key is refused", True, "401", "401")]
    targets: list[Any] = []
    monkeypatch.setattr(automation.smoke, "target_of", lambda settings, outputs: targets.append(settings))
    monkeypatch.setattr(automation.smoke, "checks", lambda target: passed)
    seen: list[automation.Progress] = []
    result = automation.up("prod", {"litellm": {"maxCount": 4}}, on_progress=seen.append)
    call = fake_stack.calls["up"]
    assert call["policy_packs"] == [str(ROOT_DIR / "policies")]
    assert call["policy_pack_configs"] == [str(ROOT_DIR / "policies" / "config.prod.json")]
    merged = yaml.safe_load(call["config"])["config"]
    assert merged["llm-gateway:litellm"] == {"cpu": 1024, "memory": 2048, "desiredCount": 2, "maxCount": 4,
                                            "spot": False}
    assert merged["llm-gateway:deletionProtection"] is True, "the rest of the stack file stays"
    assert "maxCount: 6" in (ROOT_DIR / "Pulumi.prod.yaml").read_text(), "the stack file is never rewritten"
    assert [p.kind for p in seen] == ["resource", "policy"] and seen[0].operation == "create"
    assert result.findings == [automation.Finding("required-tags", "advisory", "no tags", seen[0].urn)]
    assert (result.changes, result.outputs, result.smoke) == ({"create": 1}, {"gatewayUrl": "https://gw"}, passed)
    assert targets[0].litellm.max_count == 4, "the smoke test checks what was deployed, overrides included"


def test_a_failed_smoke_test_or_update_is_a_typed_error(fake_stack: FakeStack,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    failed = [smoke.Check("/metrics not served", False, "403 or 404", "200")]
    monkeypatch.setattr(automation.smoke, "target_of", lambda settings, outputs: None)
    monkeypatch.setattr(automation.smoke, "checks", lambda target: failed)
    with pytest.raises(automation.SmokeFailedError, match="/metrics not served") as error:
        automation.up("dev")
    assert error.value.checks == failed
    assert fake_stack.calls["up"]["config"] is None, "no overrides: the stack file itself"
    assert automation.up("dev", smoke_test=False).smoke is None
    fake_stack.fail = True
    with pytest.raises(automation.OperationFailedError, match="pulumi up dev failed"):
        automation.up("dev", smoke_test=False)


def test_the_smoke_target_comes_from_the_stacks_outputs(dev: Graph) -> None:
    target = smoke.target_of(dev_settings(), dev.outputs, key="sk-given")
    assert (target.url, target.key, target.models) == (dev.outputs["gatewayUrl"], "sk-given", tuple(MODEL_CATALOG))
    assert target.origin_url is None, "vpc-origin: the ALB is internal"
    assert not target.grafana_viewer, "by default the smoke test runs from outside Grafana's viewer list"
    assert dev.outputs["originUrl"].startswith("http://") and "elb.amazonaws.com" in dev.outputs["originUrl"]


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
    with pytest.raises(ToolError, match="unknown service 'ui'"):
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


def run_tool_command(*argv: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """A tool as a person runs it, on a PATH without the Pulumi CLI (none is installed here)."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "pulumi").exists())
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT_DIR, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": path, **environment}, check=False)


@pytest.mark.parametrize(("argv", "environment", "says"), [
    (("tools.smoke", "--stack", "dev"), {}, "`pulumi` is not installed or not on PATH"),
    (("tools.tunnel", "--stack", "dev", "--print", "litellm"), {}, "`pulumi` is not installed or not on PATH"),
    (("tools.users", "--stack", "dev", "list"), {"LITELLM_MASTER_KEY": "sk-x"}, "open the tunnel first"),
    (("tools.users", "--stack", "staging", "list"), {"LITELLM_MASTER_KEY": "sk-x"}, "no stack file Pulumi.staging"),
], ids=["smoke-no-cli", "tunnel-no-cli", "users-tunnel-down", "users-unknown-stack"])
def test_tools_end_ordinary_trouble_in_one_line(argv: tuple[str, ...], environment: dict[str, str],
                                                says: str) -> None:
    if argv[0] == "tools.users" and "staging" not in argv:
        argv = (*argv[:3], "--url", f"http://127.0.0.1:{free_port()}", *argv[3:])  # nothing listens there
    done = run_tool_command(*argv, **environment)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and says in line, line


@pytest.mark.parametrize("argv", [("tools.smoke", "--stack", "dev"), ("tools.tunnel", "--stack", "dev", "--print",
                                                                        "litellm")], ids=["smoke", "tunnel"])
def test_a_stack_without_the_outputs_a_tool_needs_is_named(tmp_path: Path, argv: tuple[str, ...]) -> None:
    """A stack created but never deployed (or deployed by an older program) has no outputs, or not these."""
    pulumi = tmp_path / "pulumi"
    pulumi.write_text("#!/bin/sh\necho '{\"vpcId\": \"vpc-1\"}'\n")
    pulumi.chmod(0o755)
    done = run_tool_command(*argv, PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "stack dev has no output `" in line and "(it has: vpcId)" in line and "pulumi up -s dev" in line, line


def test_debug_shows_the_traceback() -> None:
    done = run_tool_command("tools.tunnel", "--stack", "dev", "--print", "litellm", "--debug")
    assert done.returncode != 0 and "Traceback" in done.stderr and "ToolError" in done.stderr
