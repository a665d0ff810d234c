"""How long the offline plan takes against its floor: a Python process that imports pulumi, pulumi_aws and
pulumi_policy and registers as many bare resources under Pulumi's mocks as the plan has. Whole-process medians.

Three floors, by what the bare resources are: "bare" registers untyped custom resources, so no pulumi_aws class
loads (pulumi_aws loads its service modules lazily); "one type" registers that many argument-less `aws.ec2.Vpc`, so
one service module loads (this is the floor the issue measured, ~0.9 s for 132); "classes" loads the pulumi_aws
classes of every type the plan creates, which any program creating those resources must load (pulumi_aws builds
thousands of typed argument and output classes then), and registers untyped resources.

    .venv/bin/python -m bench.plan_speed [--runs 7] [--stack dev]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

from offline.engine import ROOT_DIR

FLOORS = ("bare", "one type", "classes")


def floor(count: int, kind: str, types: list[str]) -> None:
    """The same mock machinery the plan uses (offline/engine.py run_into): a stack, `count` bare resources, and
    the wait for every registration to finish."""
    import pulumi  # noqa: PLC0415 - the imports are part of what is measured
    import pulumi_aws  # noqa: PLC0415
    import pulumi_policy  # noqa: F401, PLC0415
    for type_ in types:
        module, name = type_.split(":")[1].split("/")[0], type_.rsplit(":", 1)[1]
        getattr(importlib.import_module(f"pulumi_aws.{'lambda_' if module == 'lambda' else module}"), name)
    from pulumi.runtime import mocks  # noqa: PLC0415
    from pulumi.runtime.settings import ROOT  # noqa: PLC0415
    from pulumi.runtime.stack import run_in_stack  # noqa: PLC0415
    from pulumi.runtime.sync_await import _sync_await  # noqa: PLC0415

    class Bare(mocks.Mocks):
        def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict]:
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: mocks.MockCallArgs) -> tuple[dict, list]:
            return {}, []

    def resource(index: int) -> pulumi.CustomResource:
        return pulumi_aws.ec2.Vpc(f"bare-{index}") if kind == "one type" else \
            pulumi.CustomResource("aws:ec2/vpc:Vpc", f"bare-{index}", {})

    mocks.set_mocks(Bare(), project="floor", stack="floor", preview=False)
    ROOT.set(None)
    _sync_await(run_in_stack(lambda: [resource(i) for i in range(count)]))


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT_DIR, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--floor", type=int, help="be the floor process, registering this many resources")
    parser.add_argument("--kind", choices=FLOORS, default="bare", help="for --floor: which floor")
    parser.add_argument("--types", nargs="*", default=[], help="for --floor: pulumi_aws resource types to load")
    options = parser.parse_args(argv)
    if options.floor is not None:
        floor(options.floor, options.kind, options.types)
        sys.stdout.flush()
        os._exit(0)  # leaves as the plan command does, without the interpreter's teardown
    summary = json.loads(subprocess.run([sys.executable, "-m", "offline.plan", options.stack, "--json"], cwd=ROOT_DIR,
                                        capture_output=True, text=True, check=True).stdout)
    count, types = summary["total"], [t for t in summary["counts"] if t.startswith("aws:")]
    floor_command = [sys.executable, "-m", "bench.plan_speed", "--floor", str(count)]
    runs = {"plan": [sys.executable, "-m", "offline.plan", options.stack],
            **{f"{kind} floor": [*floor_command, "--kind", kind, *(["--types", *types] if kind == "classes" else [])]
               for kind in FLOORS}}
    medians = {name: statistics.median(timed(command) for _ in range(options.runs)) for name, command in runs.items()}
    print(f"{options.stack}: {count} resources of {len(types)} pulumi_aws types; medians of {options.runs} runs:")
    for name, seconds in medians.items():
        print(f"  {name:<15} {seconds:.2f} s" + ("" if name == "plan" else
                                                f"   plan / floor = {medians['plan'] / seconds:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
