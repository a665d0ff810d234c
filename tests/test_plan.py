"""The offline plan command: prints dev and prod, gives JSON for tools, and fails loudly on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from offline.engine import ROOT_DIR
from tests.stacks import plan_command as plan


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it."""
    return subprocess.run([sys.executable, "-m", "offline.plan", *args], cwd=ROOT_DIR, capture_output=True,
                          text=True, timeout=60, check=False)


def test_plan_prints_each_stack_grouped_by_component() -> None:
    """The real command line for dev; prod in-process (the same code, without a second interpreter start)."""
    for stack, runner in (("dev", cli), ("prod", plan)):  # how long it takes: bench/plan_speed.py
        result = runner(stack)
        assert result.returncode == 0, result.stderr
        assert f"Plan for stack {stack}" in result.stdout
        assert "llm-gateway:network:Network gw-net" in result.stdout
        assert "aws:ec2/vpc:Vpc  gw-net-vpc" in result.stdout
        assert "in all" in result.stdout and result.stderr == ""


def test_plan_json_matches_the_text() -> None:
    result = plan("prod", "--json")
    summary = json.loads(result.stdout)
    assert summary["stack"] == "prod"
    assert summary["counts"]["aws:ec2/subnet:Subnet"] == 4
    assert summary["total"] == sum(summary["counts"].values())
    vpc = next(r for r in summary["components"]["llm-gateway:network:Network gw-net"] if r["type"].endswith("Vpc"))
    assert vpc["cidrBlock"] == "10.20.0.0/16"


def test_plan_rejects_bad_settings_with_the_key() -> None:
    bad = ROOT_DIR / "Pulumi.badplan.yaml"
    bad.write_text("config:\n  llm-gateway:network:\n    vpcCidr: 8.8.0.0/16\n")
    try:
        result = plan("badplan")
    finally:
        bad.unlink()
    assert result.returncode == 2
    assert "llm-gateway:network.vpcCidr = '8.8.0.0/16'" in result.stderr


def test_plan_counts_the_stacks_people_and_rejects_a_bad_people_file() -> None:
    assert "People: 3 active (developer 2, test 1), 0 blocked, from people/dev.yaml" in plan("dev").stdout
    bad_stack, bad_people = ROOT_DIR / "Pulumi.badpeople.yaml", ROOT_DIR / "people" / "badpeople.yaml"
    bad_stack.write_text((ROOT_DIR / "Pulumi.dev.yaml").read_text())
    bad_people.write_text("people:\n  mallory@example.com: {tier: superuser}\n")
    try:
        result = plan("badpeople")
    finally:
        bad_stack.unlink()
        bad_people.unlink()
    assert result.returncode == 2
    assert "people.mallory@example.com.tier = 'superuser': unknown tier" in result.stderr


def test_plan_names_a_missing_stack() -> None:
    result = plan("nosuchstack")
    assert result.returncode == 1 and "Pulumi.nosuchstack.yaml" in result.stderr


def test_plan_prints_policy_verdicts_and_fails_on_a_mandatory_one(tmp_path: Path) -> None:
    clean = plan("prod")
    assert "Policy pack: 1 findings {'advisory': 1}" in clean.stdout and clean.returncode == 0
    assert "[advisory] cloudfront-default-certificate: gw-cdn-distribution" in clean.stdout, "no domain: TLSv1"
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"required-tags": {"requiredTags": ["DataClassification"]}}))
    result = plan("dev", "--policy-config", str(config))
    assert result.returncode == 3
    assert "[mandatory] required-tags: gw-net-vpc: " in result.stdout
    summary = json.loads(plan("dev", "--json", "--policy-config", str(config)).stdout)
    assert summary["policies"]["mandatory"] > 10


def test_plan_says_where_the_alarms_go() -> None:
    assert "sent to NOBODY (no subscriber: set llm-gateway:alertEmail)" in plan("dev").stdout
    assert "sent to email:platform-oncall@example.com" in plan("prod").stdout
    assert json.loads(plan("dev", "--json").stdout)["notifications"]["subscribers"] == []
