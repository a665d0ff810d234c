"""A running twin of a planned stack, for a test module: built, its NAT instance booted, torn down after."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from offline.engine import Graph
from tests.stacks import settings_of
from tests.twin import netns
from tests.twin.endpoints import aws_names
from tests.twin.plan import build_model
from tests.twin.stand_ins import make_ca
from tests.twin.vpc import Boot, VpcTwin


def needs_namespaces() -> pytest.MarkDecorator:
    """Skip where namespaces cannot be made (not root), with the reason; where the twin is required (.ci/run and the
    workflow's root step set VPC_TWIN_REQUIRED) that is an error, never a skip."""
    why_not = netns.can_build()
    if why_not and os.environ.get("VPC_TWIN_REQUIRED"):
        raise RuntimeError(f"VPC_TWIN_REQUIRED is set, but the VPC twin cannot run: {why_not}")
    return pytest.mark.skipif(why_not is not None, reason=why_not or "")


def running_twins(graphs: list[Graph]) -> Iterator[dict[str, tuple[VpcTwin, Boot]]]:
    """A running twin per planned stack, by stack name, built and booted side by side (the work is mostly other
    processes: `ip`, `nft`, the AWS CLI), torn down after."""
    twins = []
    with tempfile.TemporaryDirectory(prefix="vpc-twin-") as workdir:
        for graph in graphs:
            settings = settings_of(graph)
            model = build_model(graph, settings.region)
            names = aws_names(settings.region, settings.bedrock_region, model.account_id)
            directory = Path(workdir) / graph.stack
            directory.mkdir()
            twins.append(VpcTwin(model, make_ca(directory, list(names)), names, directory))
        try:
            boots = in_parallel({twin.model.stack: (lambda t=twin: t.build().launch_nat()) for twin in twins})
            yield {twin.model.stack: (twin, boots[twin.model.stack]) for twin in twins}
        finally:
            for twin in twins:
                twin.close()


def in_parallel(attempts: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run every attempt at once (most wait on a connection timeout) and collect the results by label."""
    with ThreadPoolExecutor(max_workers=max(1, len(attempts))) as pool:
        futures = {label: pool.submit(attempt) for label, attempt in attempts.items()}
        return {label: future.result() for label, future in futures.items()}


def bedrock_name(twin: VpcTwin) -> str:
    return next(name for name in twin.aws_names if name.startswith("bedrock-runtime."))
