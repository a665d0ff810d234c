"""How the command-line tools end: a situation the person can put right is one line on stderr naming what to do,
exit 2; `--debug` shows the traceback instead. Anything else is a bug and keeps its traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
from collections.abc import Callable, Sequence
from typing import Any

from people_file import PeopleError
from settings import SettingsError

USAGE_ERROR = 2


class ToolError(RuntimeError):
    """Something the person can put right; the message says what."""


# Situations, not bugs: their messages already name the setting, file or command at fault.
EXPECTED = (ToolError, PeopleError, SettingsError, FileNotFoundError)


def command_output(argv: Sequence[str], needed_for: str, timeout_seconds: float = 120) -> str:
    """A CLI's standard output; a missing CLI or its failure is a ToolError naming both."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=timeout_seconds)
    except FileNotFoundError:
        raise ToolError(f"`{argv[0]}` is not installed or not on PATH; it is needed {needed_for}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolError(f"`{' '.join(argv[:4])} ...` failed ({needed_for}): {last}")
    return done.stdout


class StackOutputs(dict[str, Any]):
    """A deployed stack's outputs; asking for one it lacks is a ToolError naming the stack and the output."""

    def __init__(self, stack: str, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.stack = stack

    def __missing__(self, name: str) -> Any:
        held = ", ".join(sorted(self)) or "none"
        raise ToolError(f"stack {self.stack} has no output `{name}` (it has: {held}); deploy the current program "
                        f"first: pulumi up -s {self.stack}")


def stack_outputs(stack: str, show_secrets: bool = False,
                  output: Callable[[Sequence[str], str], str] = command_output) -> StackOutputs:
    argv = ["pulumi", "stack", "output", "--json", f"--show-secrets={str(show_secrets).lower()}", "-s", stack]
    return StackOutputs(stack, json.loads(output(argv, "to read the stack's outputs")))


def unreachable(url: str, error: urllib.error.URLError, hint: str) -> ToolError:
    return ToolError(f"{url} does not answer ({error.reason}); {hint}")


def run_tool(main: Callable[[list[str]], int], argv: Sequence[str] | None = None) -> int:
    """`main(argv)` with `--debug` taken out; EXPECTED errors end as one line, exit 2, unless debugging."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in arguments
    if debug:
        arguments.remove("--debug")
    try:
        return main(arguments)
    except EXPECTED as error:
        if debug:
            raise
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return USAGE_ERROR
