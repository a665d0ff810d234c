"""What a newcomer meets first: the commands the documents show exist and answer, every setting is documented and
every documented setting exists, errors name the exact key in plain words, and the usual conveniences work
(`make` alone, `pytest --cov`, the tools importable from anywhere)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from offline.engine import ROOT_DIR, stack_settings
from people_file import PeopleError, parse_people
from settings import Settings, SettingsError
from tests.docs import documentation
from tests.stacks import config_with

SETTINGS_DOC = ROOT_DIR / "docs" / "settings.md"
# Modules the documents run with arguments LiteLLM's image supplies; not ours to --help.
NOT_OURS = {"litellm.proxy.prisma_migration"}


def run(*argv: str, cwd: Path = ROOT_DIR, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **environment})


def make_targets() -> set[str]:
    text = (ROOT_DIR / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, re.MULTILINE))


def test_every_make_target_the_documents_show_exists_and_make_alone_lists_them() -> None:
    shown = set(re.findall(r"`make ([a-z][a-z-]*)", documentation())) | set(
        re.findall(r"^make ([a-z][a-z-]*)", documentation(), re.MULTILINE))
    assert shown and shown <= make_targets(), shown - make_targets()
    listed = run("make", "--no-print-directory").stdout
    described = set(re.findall(r"^\s+make ([a-z-]+)\s", listed, re.MULTILINE))
    assert {"help", "setup", "plan", "test", "test-under-load"} <= described
    assert described == set(re.findall(r"^([a-z][a-z-]*):.*## ", (ROOT_DIR / "Makefile").read_text(), re.MULTILINE))


# Each module run as `python -m <module> --help` would run it, all in one interpreter (one start, not one each).
HELP_RUNNER = """
import json, runpy, sys
answers = {}
for module in json.loads(sys.argv[1]):
    sys.argv = [module, "--help"]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        answers[module] = "no exit"
    except SystemExit as done:
        answers[module] = done.code or 0
print(json.dumps(answers))
"""


def test_every_python_command_the_documents_show_answers_help() -> None:
    modules = sorted(set(re.findall(r"python -m ([a-z_]+(?:\.[a-z_]+)+)", documentation())) - NOT_OURS)
    assert len(modules) >= 7
    done = run(sys.executable, "-c", HELP_RUNNER, json.dumps(modules))
    assert done.returncode == 0, done.stderr[-800:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert answers == dict.fromkeys(modules, 0), answers
    assert done.stdout.count("usage:") == len(modules)


def setting_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every setting a stack file may write, as it is written (camelCase, dotted), sections opened up."""
    for name, field in model.model_fields.items():
        key = prefix + to_camel(name)
        inner = typing.get_args(field.annotation) or (field.annotation,)
        section = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if section is not None and isinstance(field.default, BaseModel | type(None)):
            yield from setting_paths(section, key + ".")
        else:
            yield key


def _rows() -> list[tuple[str, str]]:
    """(first cell, whole row) of the settings table."""
    return [(line.split("|")[1], line) for line in SETTINGS_DOC.read_text().splitlines() if line.startswith("| `")]


def _documented(path: str) -> bool:
    """Named in the reference, or its leaf named in the row of a section that holds it."""
    if path in SETTINGS_DOC.read_text():
        return True
    parts = path.split(".")
    return any(f"`{'.'.join(parts[:n])}`" in first and parts[-1] in row
               for n in range(1, len(parts)) for first, row in _rows())


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    paths = [p for p in setting_paths(Settings) if p not in ("project", "stack", "environment", "region")]
    assert len(paths) > 60
    assert [p for p in paths if not _documented(p)] == []
    named = {key for first, _ in _rows() for key in re.findall(r"`([a-zA-Z.]+)`", first)}
    roots = {p.split(".")[0] for p in paths}
    unknown = {key for key in named if key not in paths and key not in roots
               and not any(p.startswith(key + ".") for p in paths)}
    assert unknown == set()


@pytest.mark.parametrize(("override", "says"), [
    ({"edge": {"adminCidrs": "203.0.113.0/24"}},
     "llm-gateway:edge.adminCidrs = '203.0.113.0/24': a list is expected, not str '203.0.113.0/24' "
     "(write it as [203.0.113.0/24])"),
    ({"litellm": {"cpu": 300}}, "llm-gateway:litellm.cpu = 300: cpu 300 is not a Fargate size"),
    ({"litellm": {"cpu": 1024, "memory": 100}}, "llm-gateway:litellm.memory = 100: memory 100 is not offered"),
    ({"litellm": {"cpu": "lots"}}, "llm-gateway:litellm.cpu = 'lots': a whole number is expected, not str 'lots'"),
    ({"database": {"multiAz": "maybe"}}, "llm-gateway:database.multiAz = 'maybe': true or false is expected"),
], ids=["string-for-list", "section-rule-names-its-field", "second-field", "text-for-number", "text-for-bool"])
def test_a_setting_error_names_the_exact_key_and_speaks_plainly(override: dict[str, Any], says: str) -> None:
    with pytest.raises(SettingsError) as error:
        stack_settings("dev", config_with("dev", **override))
    assert says in str(error.value) and "{" not in str(error.value), str(error.value)


def test_a_people_file_error_names_the_file_and_the_person_as_written() -> None:
    with pytest.raises(PeopleError) as error:
        parse_people(stack_settings("dev"), {"people": {"Jo_Smith@example.com": {"tier": "developer", "models":
                                                                                 "claude-haiku-4-5"}}},
                     "people/dev.yaml")
    assert str(error.value).splitlines() == [
        "people/dev.yaml:", "  people.Jo_Smith@example.com.models = 'claude-haiku-4-5': a list is expected, not str "
        "'claude-haiku-4-5' (write it as [claude-haiku-4-5])"]


def test_pytest_cov_runs(tmp_path: Path) -> None:
    """policies/ modules are imported as top-level names; none may shadow coverage.py (it was policies/coverage.py)."""
    done = run(sys.executable, "-m", "pytest", "-q", "-n0", "-p", "no:cacheprovider", "--cov=policies",
               "--cov-report=term", "tests/test_iam_logic.py", COVERAGE_FILE=str(tmp_path / ".coverage"))
    assert done.returncode == 0 and "TOTAL" in done.stdout, done.stdout[-800:] + done.stderr[-800:]


def test_the_tools_import_from_any_directory(tmp_path: Path) -> None:
    """`make setup` installs the project in editable mode: other Python tools use the Automation API wrapper."""
    done = run(sys.executable, "-c", "from tools import automation; import settings, offline.plan; "
               "print(automation.__file__)", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == str(ROOT_DIR / "tools" / "automation.py"), done.stderr
