"""Loaded only by a LiteLLM process started with this folder on its PYTHONPATH (`environment` in __init__.py here:
tests/test_images.py's proxy, the capacity benchmark's, bench/driver.py).

Writes one JSON line per garbage collection of the oldest generation, and per collection of any generation longer
than 10 ms, to $GC_TRACE_LOG: wall-clock time, generation, milliseconds, objects collected. Also logs each
gc.freeze() (images/litellm/custom_hooks.py) with how many objects are frozen after it. GC_TRACE_FREEZE=off turns
gc.freeze() into a no-op, so one benchmark can show the proxy with and without it.
"""

from __future__ import annotations

import gc
import json
import os
import time

_LOG = open(os.environ["GC_TRACE_LOG"], "a", buffering=1)  # noqa: SIM115 - open for the process's life
_started: list[float] = [0.0]
_real_freeze = gc.freeze


def _write(**entry: object) -> None:
    _LOG.write(json.dumps({"t": time.time(), **entry}) + "\n")


def _on_collection(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    milliseconds = 1000 * (time.perf_counter() - _started[0])
    if info["generation"] == 2 or milliseconds > 10:
        _write(generation=info["generation"], ms=round(milliseconds, 1), collected=info["collected"])


def _freeze() -> None:
    if os.environ.get("GC_TRACE_FREEZE") != "off":
        _real_freeze()
    _write(frozen=gc.get_freeze_count())


gc.freeze = _freeze
gc.callbacks.append(_on_collection)
