"""A LiteLLM process's garbage collections, traced: `environment(log)` for the process (this folder on its
PYTHONPATH, so Python loads sitecustomize.py here), `entries(log)` to read what it wrote. No dependencies: the
benchmark's driver runs with LiteLLM's interpreter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def environment(log: Path, freeze: bool = True) -> dict[str, str]:
    """`freeze=False` makes gc.freeze() a no-op in the process (the image's freeze, for a before/after)."""
    return {"PYTHONPATH": str(Path(__file__).resolve().parent), "GC_TRACE_LOG": str(log),
            "GC_TRACE_FREEZE": "on" if freeze else "off"}


def entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
