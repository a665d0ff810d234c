"""LiteLLM's own code run directly, without a proxy: the migration task's entry point fails loudly without its
database, and the planned config makes a budget overrun a 429. Apart from the proxy tests, so they run in parallel
(the migration mostly waits on LiteLLM's retry)."""

from __future__ import annotations

import json
import os
import subprocess

from offline.engine import Graph
from tests.live import LITELLM, planned_config_path


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


def test_over_budget_is_answered_429_as_the_seed_promises(prod: Graph) -> None:
    """LiteLLM 1.108.7 answers a budget overrun 422 unless `budget_exceeded_status_code` says otherwise
    (litellm/__init__.py). The proxy sets each `litellm_settings` key it has no special case for on the `litellm`
    module (proxy_server.py, ProxyConfig.load_config: `setattr(litellm, key, value)`), as done here with the planned
    config; its auth error path then turns the error into the answer (auth/auth_exception_handler.py)."""
    script = """
import json, sys, yaml
import litellm
from litellm.proxy.auth.auth_exception_handler import _as_proxy_exception
for key, value in yaml.safe_load(open(sys.argv[1]))["litellm_settings"].items():
    if key == "budget_exceeded_status_code":
        setattr(litellm, key, value)
error = _as_proxy_exception(litellm.BudgetExceededError(current_cost=10.5, max_budget=10))
print(json.dumps({"code": error.code, "type": error.type}))
"""
    python = LITELLM.parent / "python"
    result = subprocess.run([str(python), "-c", script, str(planned_config_path(prod))], capture_output=True,
                            text=True, timeout=120, check=False,
                            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert (str(answer["code"]), answer["type"]) == ("429", "budget_exceeded")
