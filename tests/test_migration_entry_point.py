"""The migration task's entry point, from the real LiteLLM: it fails loudly without its database. Apart from the
proxy tests, so the two run in parallel."""

from __future__ import annotations

import os
import subprocess

from tests.live import LITELLM


def test_the_migration_entry_point_fails_loudly_when_it_cannot_migrate() -> None:
    """The pre-deploy task's command, from the real LiteLLM: with the DATABASE_* settings the task gets and no
    database behind them, it exits non-zero, so scripts/run-ecs-task.sh fails the deploy before any rollout."""
    env = {"PATH": os.environ["PATH"], "HOME": "/tmp", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "DATABASE_HOST": "127.0.0.1:9", "DATABASE_USERNAME": "litellm", "DATABASE_PASSWORD": "x",
           "DATABASE_NAME": "litellm", "DISABLE_SCHEMA_UPDATE": "false"}
    result = subprocess.run([str(LITELLM.parent / "python"), "-m", "litellm.proxy.prisma_migration"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "migration" in (result.stdout + result.stderr).lower()
