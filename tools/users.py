"""Give a person a LiteLLM user with the budget of a tier from the stack's settings (the seed's budget model:
admin unlimited, developer $10/month on Haiku and Sonnet, test $1/month on Haiku) and a virtual key.

    python -m tools.tunnel --stack dev litellm &      # the admin API is closed at the edge
    export LITELLM_MASTER_KEY=$(aws secretsmanager get-secret-value --secret-id <litellm-master-key arn> \\
        --query SecretString --output text)
    python -m tools.users --stack dev --url http://localhost:4000 \\
        add alice@example.com --tier developer --gateway "$(pulumi stack output gatewayUrl -s dev)"

LiteLLM enforces the budget on the spend it records (list price + 10% for `us.` profiles); a request that
starts under budget can overshoot it once, since spend is recorded after the response.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import urllib.request
from typing import Any

from offline.engine import project_name, stack_config
from settings import MODEL_CATALOG, Settings, load_settings


def user_request(settings: Settings, user_id: str, tier: str) -> dict[str, Any]:
    """The /user/new body for `user_id` in `tier`; a tier without models may use every served model."""
    if tier not in settings.budgets:
        raise ValueError(f"unknown tier {tier!r}; tiers of stack {settings.stack}: {sorted(settings.budgets)}")
    budget = settings.budgets[tier]
    models = budget.models or settings.models
    # Both names of each model: the gateway's and the dated one Claude Code asks for.
    allowed = [*models, *(MODEL_CATALOG[m].dated_name for m in models)]
    request: dict[str, Any] = {"user_id": user_id, "user_alias": user_id, "models": allowed,
                               "metadata": {"tier": tier}, "auto_create_key": True}
    if budget.max_budget_usd is not None:
        request |= {"max_budget": budget.max_budget_usd, "budget_duration": budget.period}
    # Every tier's key is an everyday key: admin work is done with the master key, from inside (README).
    request["user_role"] = "internal_user"
    return request


FAMILIES = ("opus", "sonnet", "haiku")  # strongest first


def _family(model: str) -> int:
    return next((i for i, family in enumerate(FAMILIES) if family in model), len(FAMILIES))


def claude_code_setup(settings: Settings, tier: str, url: str, key: str) -> dict[str, str]:
    """Claude Code's environment for a person of `tier`: every model name it may ask for is one the tier may use.
    Claude Code's own defaults (newer models than the gateway serves) are never asked for."""
    models = sorted(settings.budgets[tier].models or settings.models, key=_family)

    def pick(family: str) -> str:
        """That family if the tier has it, else the nearest the tier has (by strength)."""
        wanted = FAMILIES.index(family)
        return min(models, key=lambda m: (abs(_family(m) - wanted), _family(m)))

    return {"ANTHROPIC_BASE_URL": url.rstrip("/"), "ANTHROPIC_AUTH_TOKEN": key,
            "ANTHROPIC_MODEL": pick("sonnet"), "ANTHROPIC_DEFAULT_OPUS_MODEL": pick("opus"),
            "ANTHROPIC_DEFAULT_SONNET_MODEL": pick("sonnet"), "ANTHROPIC_DEFAULT_HAIKU_MODEL": pick("haiku"),
            "CLAUDE_CODE_SUBAGENT_MODEL": pick("sonnet"),
            # No telemetry, error reports or update checks to Anthropic; no experimental betas Bedrock may reject.
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS": "1"}


def print_setup(environment: dict[str, str]) -> None:
    print("# Claude Code: add to your shell profile ...")
    print("\n".join(f"export {name}={shlex.quote(value)}" for name, value in environment.items()))
    print("# ... or to ~/.claude/settings.json")
    print(json.dumps({"env": environment}, indent=2))


def post(url: str, path: str, body: dict[str, Any], master_key: str) -> dict[str, Any]:
    request = urllib.request.Request(url.rstrip("/") + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {master_key}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def add_user(url: str, master_key: str, settings: Settings, user_id: str, tier: str) -> str:
    """Create the user and return its virtual key (for ANTHROPIC_AUTH_TOKEN or an OpenAI client)."""
    return post(url, "/user/new", user_request(settings, user_id, tier), master_key)["key"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--url", required=True, help="LiteLLM through the tunnel (http://localhost:4000), or the "
                        "gateway URL from an address in edge.adminCidrs")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create a user with a tier's budget and print its key")
    add.add_argument("user_id")
    add.add_argument("--tier", required=True)
    add.add_argument("--gateway", required=True,
                     help="the URL people use (stack output gatewayUrl), for their Claude Code setup")
    options = parser.parse_args(argv)
    master_key = os.environ.get("LITELLM_MASTER_KEY")
    if not master_key:
        parser.error("set LITELLM_MASTER_KEY (the stack's litellm-master-key secret)")
    settings = load_settings(project_name(), options.stack, stack_config(options.stack))
    key = add_user(options.url, master_key, settings, options.user_id, options.tier)
    print(key)
    print_setup(claude_code_setup(settings, options.tier, options.gateway, key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
