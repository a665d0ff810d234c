"""`make bench`: the real LiteLLM with dev's planned config on one pinned core, a fake Bedrock that answers in real
time, and the load on the other core (bench/driver.py); then a table and a plot of what the gateway adds.

    make bench                         # .build/bench/results.json, .build/bench/overhead.png, the table
    .venv/bin/python -m bench.run --table-only .build/bench/results.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from offline.engine import ROOT_DIR, run
from tests.live import planned_config_path, planned_environment

OUT = ROOT_DIR / ".build" / "bench"
LITELLM_PYTHON = ROOT_DIR / ".venv-litellm" / "bin" / "python"


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    return f"{model}, {platform.machine()}, Linux {platform.release()}"


def table(results: dict[str, Any]) -> str:
    out = [f"Machine: {results['machine']['label']}; LiteLLM pinned to core {results['machine']['proxy_core']}, "
           f"load and fake Bedrock on core {results['machine']['load_core']}. RSS {results['idle_rss_mb']} MB idle, "
           f"{results.get('warm_rss_mb', '?')} MB after warm-up.",
           f"Request: a Claude Code turn (~{results['prompt_bytes'] // 1000} KB of prompt). Bound: p95 overhead "
           f"<= {results['bound_ms']:g} ms.", "",
           *gc_lines(results.get("gc")),
           "| concurrency | mode | requests | errors | overhead p50 / p95 / p99 (ms) | LiteLLM CPU per request (ms) | "
           "longest GC (ms) |", "|---|---|---|---|---|---|---|"]
    out += [f"| {r['concurrency']} | {'stream: time to first token' if r['stream'] else 'whole answer'} | "
            f"{r['requests']} | {r['errors']} | {r['overhead_ms_p50']} / {r['overhead_ms_p95']} / "
            f"{r['overhead_ms_p99']} | {r.get('proxy_cpu_ms_per_request', '-')} | {r.get('longest_gc_ms', '-')} |"
            for r in results["overhead"]]
    out += ["", "| clients (short answers) | requests/s | errors | p95 overhead (ms) |", "|---|---|---|---|"]
    out += [f"| {r['concurrency']} | {r['rps']} | {r['errors']} | {r['overhead_ms_p95']} |"
            for r in results["throughput"]]
    out += ["", "| long streams | errors | TTFT overhead p95 (ms) | stall beyond pacing p99 (ms) | LiteLLM CPU per "
            "stream (ms) | load core busy | peak RSS (MB) | longest GC (ms) |", "|---|---|---|---|---|---|---|---|"]
    out += [f"| {r['streams']} | {r['errors']} | {r['ttft_overhead_ms_p95']} | {r.get('stall_ms_p99', '-')} | "
            f"{r.get('proxy_cpu_ms_per_stream', '-')} | {r.get('load_core_busy_pct', '-')} % | {r['peak_rss_mb']} | "
            f"{r.get('longest_gc_ms', '-')} |" for r in results["streams"]]
    return "\n".join(out)


def gc_lines(gc: dict[str, Any] | None) -> list[str]:
    """The proxy's garbage collections under load (tests/gc_trace), for runs that traced them."""
    if gc is None:
        return []
    frozen = "off (the before run)" if gc["freeze"] == "off" else (
        f"on, {gc['frozen_objects']:,} objects frozen" if gc["frozen_objects"] else "on, but no model call froze")
    return [f"Start-up heap freeze: {frozen}. Under load: {gc['full_collections_under_load']} full collections, the "
            f"longest {gc['longest_full_collection_ms']} ms; longest collection of any generation "
            f"{gc['longest_collection_ms']} ms.", ""]


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only `make bench` installs it

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    figure, axes = pyplot.subplots(1, 2, figsize=(11, 4))
    for stream, axis in ((False, axes[0]), (True, axes[1])):
        rows = [r for r in results["overhead"] if r["stream"] == stream]
        for q in ("p50", "p95", "p99"):
            axis.plot([r["concurrency"] for r in rows], [r[f"overhead_ms_{q}"] for r in rows], marker="o", label=q)
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrent Claude Code turns")
        axis.set_ylabel("added by LiteLLM (ms)")
        axis.set_title("time to first token (streamed)" if stream else "whole answer (not streamed)")
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.suptitle(f"Gateway overhead, one LiteLLM process on one core ({results['machine']['label']})",
                    fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table-only", type=Path, help="print the table and plot of saved results")
    parser.add_argument("driver", nargs="*", help="extra arguments for bench/driver.py (e.g. --levels 1 8)")
    options = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    results_path = options.table_only or OUT / "results.json"
    if not options.table_only:
        graph = run("dev")
        env_path = OUT / "env.json"
        env_path.write_text(json.dumps(planned_environment(graph)))
        subprocess.run([str(LITELLM_PYTHON), str(ROOT_DIR / "bench" / "driver.py"), "--config",
                        str(planned_config_path(graph)), "--env", str(env_path), "--out", str(results_path),
                        "--log", str(OUT / "litellm.log"), "--label", machine(), *options.driver], check=True,
                       timeout=1800)
    results = json.loads(results_path.read_text())
    print(table(results))
    plot(results, OUT / "overhead.png")
    print(f"\nplot: {OUT / 'overhead.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
