"""Drive the gateway's stacks from other Python tools through Pulumi's Automation API.

    python -m tools.automation preview dev     # with the policy pack, as in a pull request
    python -m tools.automation up prod
    python -m tools.automation outputs dev

Needs the Pulumi CLI, AWS credentials and a logged-in state backend (see README). The policy pack and the
stack's policy config (policies/config.<stack>.json) are always applied.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pulumi import automation as auto

ROOT_DIR = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT_DIR / "policies"


def policy_options(stack: str) -> dict[str, list[str]]:
    config = POLICY_DIR / f"config.{stack}.json"
    return {"policy_packs": [str(POLICY_DIR)], "policy_pack_configs": [str(config)] if config.exists() else []}


def select(stack: str) -> auto.Stack:
    """The stack of this project (Pulumi.<stack>.yaml), created in the backend if it is new."""
    if not (ROOT_DIR / f"Pulumi.{stack}.yaml").exists():
        raise ValueError(f"no Pulumi.{stack}.yaml in {ROOT_DIR}")
    return auto.create_or_select_stack(stack_name=stack, work_dir=str(ROOT_DIR))


def preview(stack: str) -> auto.PreviewResult:
    return select(stack).preview(diff=True, on_output=print, **policy_options(stack))


def up(stack: str) -> auto.UpResult:
    return select(stack).up(diff=True, on_output=print, **policy_options(stack))


def outputs(stack: str) -> dict[str, Any]:
    return {key: value.value for key, value in select(stack).outputs().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["preview", "up", "outputs"])
    parser.add_argument("stack")
    options = parser.parse_args(argv)
    if options.command == "outputs":
        print(json.dumps(outputs(options.stack), indent=2))
    else:
        {"preview": preview, "up": up}[options.command](options.stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
