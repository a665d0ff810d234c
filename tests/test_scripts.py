"""The scripts: the migration step `pulumi up` runs (against a fake AWS CLI), base image pinning (against a
fake Docker), and shellcheck on all of them."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from components.network import nat_user_data
from offline.engine import ROOT_DIR

SCRIPT = ROOT_DIR / "scripts" / "run-ecs-task.sh"
TASK = "arn:aws:ecs:us-west-1:123456789012:task/gw/abc"
# A fake AWS CLI answering as `--output text` would; describe-tasks walks through $FAKE_STATES (one line per poll).
FAKE_AWS = """#!/usr/bin/env bash
echo "$*" >> "$AWS_CALLS"
case "$2" in
  run-task) printf '%s\\n' "$FAKE_RUN" ;;
  stop-task) echo STOPPING ;;
  describe-tasks)
    if [[ "$*" == *stoppedReason* ]]; then printf '%s\\n' "$FAKE_REASONS"; exit 0; fi
    polls=$(grep -c describe-tasks "$AWS_CALLS")
    line=$(sed -n "${polls}p" <<<"$FAKE_STATES")
    [ -n "$line" ] || line=$(tail -n 1 <<<"$FAKE_STATES")
    printf '%s\\n' "$line" ;;
esac
"""
ENV = {"REGION": "us-west-1", "CLUSTER": "arn:cluster", "TASK_DEFINITION": "arn:taskdef:7",
       "SUBNETS": "subnet-a,subnet-b", "SECURITY_GROUP": "sg-1", "POLL_SECONDS": "0.05"}
STARTED = f"{TASK}\tNone\tNone\tNone"
RUNNING = "RUNNING\tNone\tNone\tNone"
STOPPED_OK = "STOPPED\t0\tEssentialContainerExited\tNone"


def start_script(tmp_path: Path, states: list[str], run: str = STARTED, reasons: str = "None\tNone",
                 **env: str) -> tuple[subprocess.Popen[str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    calls = tmp_path / "calls"
    environment = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "AWS_CALLS": str(calls), "FAKE_RUN": run,
                   "FAKE_STATES": "\n".join(states), "FAKE_REASONS": reasons, **ENV, **env}
    process = subprocess.Popen(["bash", str(SCRIPT)], env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    return process, calls


def run_script(tmp_path: Path, states: list[str], **kwargs: str) -> tuple[int, str, list[str]]:
    process, calls = start_script(tmp_path, states, **kwargs)
    _, stderr = process.communicate(timeout=30)
    return process.returncode, stderr, calls.read_text().splitlines() if calls.exists() else []


def test_a_successful_migration_lets_the_deploy_go_on(tmp_path: Path) -> None:
    code, stderr, calls = run_script(tmp_path, [RUNNING, RUNNING, STOPPED_OK])
    assert code == 0, stderr
    run_task, *polls = calls
    assert "ecs run-task" in run_task and "--launch-type FARGATE" in run_task
    assert "--task-definition arn:taskdef:7" in run_task and "--propagate-tags TASK_DEFINITION" in run_task
    assert "subnets=[subnet-a,subnet-b],securityGroups=[sg-1],assignPublicIp=DISABLED" in run_task
    assert len(polls) == 3 and all(f"describe-tasks --region us-west-1 --cluster arn:cluster --tasks {TASK}" in p
                                   for p in polls)
    assert not any("stop-task" in c for c in calls)


def test_a_long_migration_says_where_it_is(tmp_path: Path) -> None:
    """A status line on every change of the task's status (and at least every STATUS_EVERY_SECONDS)."""
    process, _ = start_script(tmp_path, ["PROVISIONING\tNone\tNone\tNone", "PENDING\tNone\tNone\tNone", RUNNING,
                                         RUNNING, STOPPED_OK], STATUS_EVERY_SECONDS="3600")
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    said = [line.split(": ", 1)[1].split(",")[0] for line in stdout.splitlines() if line.startswith("task abc: ")]
    assert said == ["PROVISIONING", "PENDING", "RUNNING", "STOPPED"], stdout
    assert "s of at most 3300 s" in stdout


def test_a_failed_migration_fails_the_deploy_and_says_why(tmp_path: Path) -> None:
    code, stderr, _ = run_script(tmp_path, ["STOPPED\t1\tEssentialContainerExited\tNone"],
                                 reasons="Essential container in task exited\tNone")
    assert code == 1 and "exit code 1" in stderr and "Essential container in task exited" in stderr


def test_a_task_that_never_started_says_why_not_exited_with_none(tmp_path: Path) -> None:
    code, stderr, _ = run_script(tmp_path, ["STOPPED\tNone\tTaskFailedToStart\tNone"],
                                 reasons="ResourceInitializationError: unable to pull secrets\t"
                                         "CannotPullContainerError: pull access denied")
    assert code == 1 and "TaskFailedToStart" in stderr
    assert "unable to pull secrets" in stderr and "CannotPullContainerError" in stderr


def test_run_task_failures_are_printed(tmp_path: Path) -> None:
    code, stderr, calls = run_script(tmp_path, [], run="None\tarn:aws:ecs:us-west-1:1:container-instance/x\t"
                                                       "RESOURCE:ENI\tno free address")
    assert code == 1 and "RESOURCE:ENI" in stderr and "no free address" in stderr and len(calls) == 1


def test_a_migration_past_the_deadline_is_stopped_and_fails(tmp_path: Path) -> None:
    code, stderr, calls = run_script(tmp_path, [RUNNING], TIMEOUT_SECONDS="1")
    assert code == 1 and "no result after 1 s" in stderr
    assert any(c.startswith(f"ecs stop-task --region us-west-1 --cluster arn:cluster --task {TASK}") for c in calls)


def test_an_interrupted_deploy_stops_the_task(tmp_path: Path) -> None:
    process, calls = start_script(tmp_path, [RUNNING])
    deadline = time.monotonic() + 10
    while "describe-tasks" not in (calls.read_text() if calls.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 130 and "interrupted" in stderr
    assert any("stop-task" in c for c in calls.read_text().splitlines())


def test_a_killed_deploy_script_still_stops_its_task(tmp_path: Path) -> None:
    """Pulumi ends a cancelled or timed-out command with SIGKILL, which no trap sees: the watchdog does."""
    process, calls = start_script(tmp_path, [RUNNING], WATCHDOG_SECONDS="0.1")
    deadline = time.monotonic() + 10
    while "describe-tasks" not in (calls.read_text() if calls.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()
    process.communicate(timeout=10)
    while "stop-task" not in calls.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(c.startswith(f"ecs stop-task --region us-west-1 --cluster arn:cluster --task {TASK}")
               for c in calls.read_text().splitlines())


def test_a_task_briefly_missing_after_start_is_waited_for(tmp_path: Path) -> None:
    """RunTask: the ECS API is eventually consistent; a new task can be MISSING for a moment."""
    missing = "None\tNone\tNone\tMISSING"
    code, stderr, _ = run_script(tmp_path, [missing, missing, STOPPED_OK])
    assert code == 0, stderr
    (tmp_path / "gone").mkdir()
    code, stderr, calls = run_script(tmp_path / "gone", [missing], MISSING_GRACE_SECONDS="0")
    assert code == 1 and "MISSING" in stderr and any("stop-task" in c for c in calls)


def test_missing_settings_are_named(tmp_path: Path) -> None:
    code, stderr, calls = run_script(tmp_path, [STOPPED_OK], CLUSTER="")
    assert code != 0 and "CLUSTER" in stderr and calls == []


def test_shell_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "install Debian's shellcheck (`make tools` does)"
    twin = ROOT_DIR / "tests" / "twin"
    scripts = [*map(str, (ROOT_DIR / "scripts").glob("*.sh")), str(ROOT_DIR / ".ci" / "run"),
               str(twin / "fck-nat.sh"), str(twin / "bin" / "service")]
    result = subprocess.run([shellcheck, *scripts], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_the_nat_user_data_passes_shellcheck(tmp_path: Path) -> None:
    user_data = tmp_path / "user-data.sh"
    user_data.write_bytes(base64.b64decode(nat_user_data("eni-0123456789abcdef0", "eipalloc-0123456789abcdef0")))
    result = subprocess.run(["shellcheck", str(user_data)], capture_output=True, text=True, check=False)
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
