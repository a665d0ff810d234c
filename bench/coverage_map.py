"""Which test modules run which lines: each test module alone under coverage (alone, because a worker plans each stack
once and a module that reuses that plan would not be credited with the lines it depends on). Files no test imports
in-process (the LiteLLM image's hooks run inside the real proxy, the edge function inside node) fall back to the
test modules that name them."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import coverage

LineMap = dict[str, dict[int, list[str]]]
Seconds = dict[str, float]


def _lines_run_by(module: str, root: Path, scratch: Path) -> tuple[str, float, dict[str, list[int]]]:
    started = time.monotonic()
    data_file = scratch / Path(module).stem
    environment = {**os.environ, "COVERAGE_FILE": str(data_file),
                   "PYTHONPATH": f"{root}{os.pathsep}{root / 'policies'}"}
    subprocess.run([str(root / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-n0", "-p", "no:cacheprovider",
                    f"--cov={root}", "--cov-report=", module], cwd=root, env=environment, capture_output=True,
                   check=False)
    seconds = time.monotonic() - started
    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    return module, seconds, {str(Path(f).relative_to(root)): sorted(data.lines(f) or []) for f in data.measured_files()
                    if Path(f).is_relative_to(root)}


def build(root: Path, jobs: int) -> tuple[LineMap, Seconds]:
    """{source file: {line: [test modules that ran it]}}, and how long each module took alone (the runner tries
    the quick ones first)."""
    modules = sorted(str(p.relative_to(root)) for p in (root / "tests").glob("test_*.py"))
    line_map: LineMap = {}
    seconds: Seconds = {}
    with tempfile.TemporaryDirectory(prefix="mutate-coverage-") as scratch, ThreadPoolExecutor(jobs) as pool:
        for module, took, files in pool.map(lambda m: _lines_run_by(m, root, Path(scratch)), modules):
            seconds[module] = took
            for source, lines in files.items():
                for line in lines:
                    line_map.setdefault(source, {}).setdefault(line, []).append(module)
    return line_map, seconds


def load_or_build(root: Path, version: str, cache: Path, jobs: int) -> tuple[LineMap, Seconds]:
    """The map for `root`, a copy of the code at `version`, rebuilt when the code changed (a few minutes)."""
    if cache.exists() and json.loads(cache.read_text())["commit"] == version:
        stored = json.loads(cache.read_text())
        lines = {f: {int(n): modules for n, modules in by_line.items()} for f, by_line in stored["lines"].items()}
        return lines, stored["seconds"]
    print("mapping which tests run which lines (each test module alone under coverage, a few minutes) ...",
          flush=True)
    line_map, seconds = build(root, jobs)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"commit": version, "lines": line_map, "seconds": seconds}))
    return line_map, seconds


def modules_naming(source: str, root: Path, marker: str = "") -> list[str]:
    """The fallback for files that run outside the test process: test modules that mention the file (or `marker`)."""
    names = [Path(source).stem, *([marker] if marker else [])]
    return sorted(str(p.relative_to(root)) for p in (root / "tests").glob("test_*.py")
                  if any(name in p.read_text() for name in names))
