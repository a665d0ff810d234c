"""The scripts: the migration step `pulumi up` runs (against a fake AWS CLI), base image pinning (against a
fake Docker), and shellcheck on all of them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from offline.engine import ROOT_DIR

SCRIPT = ROOT_DIR / "scripts" / "run-ecs-task.sh"
FAKE_AWS = """#!/usr/bin/env bash
echo "$*" >> "$AWS_CALLS"
case "$2" in
  run-task) echo "arn:aws:ecs:us-west-1:123456789012:task/gw/abc" ;;
  wait) exit 0 ;;
  describe-tasks) echo "$FAKE_EXIT_CODE" ;;
esac
"""
ENV = {"REGION": "us-west-1", "CLUSTER": "arn:cluster", "TASK_DEFINITION": "arn:taskdef:7",
       "SUBNETS": "subnet-a,subnet-b", "SECURITY_GROUP": "sg-1"}


def run_script(tmp_path: Path, exit_code: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    calls = tmp_path / "calls"
    environment = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "AWS_CALLS": str(calls), "FAKE_EXIT_CODE": exit_code,
                   **env}
    result = subprocess.run(["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, check=False)
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_a_successful_migration_lets_the_deploy_go_on(tmp_path: Path) -> None:
    result, calls = run_script(tmp_path, "0", **ENV)
    assert result.returncode == 0, result.stderr
    run_task, wait, describe = calls
    assert "ecs run-task" in run_task and "--launch-type FARGATE" in run_task
    assert "--task-definition arn:taskdef:7" in run_task
    assert "subnets=[subnet-a,subnet-b],securityGroups=[sg-1],assignPublicIp=DISABLED" in run_task
    assert "tasks-stopped" in wait and "--tasks arn:aws:ecs:us-west-1:123456789012:task/gw/abc" in describe


@pytest.mark.parametrize("exit_code", ["1", "None"])
def test_a_failed_or_killed_migration_fails_the_deploy(tmp_path: Path, exit_code: str) -> None:
    result, _ = run_script(tmp_path, exit_code, **ENV)
    assert result.returncode == 1 and f"exited with {exit_code}" in result.stderr


def test_missing_settings_are_named(tmp_path: Path) -> None:
    result, calls = run_script(tmp_path, "0", **{k: v for k, v in ENV.items() if k != "CLUSTER"})
    assert result.returncode != 0 and "CLUSTER" in result.stderr and calls == []


def test_shell_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "install Debian's shellcheck (make setup does)"
    scripts = [*map(str, (ROOT_DIR / "scripts").glob("*.sh")), str(ROOT_DIR / ".ci" / "run")]
    result = subprocess.run([shellcheck, *scripts], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


PIN_SCRIPT = ROOT_DIR / "scripts" / "pin-base-images.sh"
DIGEST = "sha256:" + "ab" * 32


def pin_in_copy(tmp_path: Path, docker_answer: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the pin script on a copy of the images with a fake `docker` that answers `docker_answer`."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT_DIR / "images", copy / "images")
    (copy / "scripts").mkdir()
    shutil.copy(PIN_SCRIPT, copy / "scripts")
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(f"#!/usr/bin/env bash\necho '{docker_answer}'\n")
    fake.chmod(0o755)
    result = subprocess.run(["bash", str(copy / "scripts" / PIN_SCRIPT.name)], capture_output=True, text=True,
                            env={"PATH": f"{fake.parent}:{os.environ['PATH']}"}, check=False)
    return result, copy


def from_lines(repo: Path) -> list[str]:
    return [line for d in sorted((repo / "images").glob("*/Dockerfile")) for line in d.read_text().splitlines()
            if line.startswith("FROM ")]


def test_pinning_adds_the_digest_to_every_base_image_and_can_run_again(tmp_path: Path) -> None:
    result, repo = pin_in_copy(tmp_path, f'"{DIGEST}"')
    assert result.returncode == 0, result.stderr
    pinned = from_lines(repo)
    assert len(pinned) == 3 and all(line.endswith(f"@{DIGEST}") and ":" in line.split("@")[0] for line in pinned)
    again = subprocess.run(["bash", str(repo / "scripts" / PIN_SCRIPT.name)], capture_output=True, text=True,
                           env={"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}, check=False)
    assert again.returncode == 0 and from_lines(repo) == pinned


def test_pinning_stops_when_a_registry_gives_no_digest(tmp_path: Path) -> None:
    result, _ = pin_in_copy(tmp_path, "")
    assert result.returncode == 1 and "no digest" in result.stderr
