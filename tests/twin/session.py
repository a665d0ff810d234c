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
from tests.twin.flows import aws_names
from tests.twin.plan import build_model
from tests.twin.stand_ins import make_ca
from tests.twin.vpc import Boot, VpcTwin


def needs_namespaces() -> pytest.MarkDecorator:
    """Skip where namespaces cannot be made (not root), with the reason; in CI that is an error, never a skip."""
    why_not = netns.can_build()
    if why_not and os.environ.get("CI"):
        raise RuntimeError(f"CI must run the VPC twin: {why_not}")
    return pytest.mark.skipif(why_not is not None, reason=why_not or "")


def running_twin(graph: Graph, refuse_calls: int = 0) -> Iterator[tuple[VpcTwin, Boot]]:
    settings = settings_of(graph)
    model = build_model(graph, settings.region)
    names = aws_names(settings.region, settings.bedrock_region, model.account_id)
    with tempfile.TemporaryDirectory(prefix="vpc-twin-") as workdir:
        twin = VpcTwin(model, make_ca(Path(workdir), list(names)), names, Path(workdir))
        try:
            twin.build()
            yield twin, twin.launch_nat(refuse_calls)
        finally:
            twin.close()


def in_parallel(attempts: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run every attempt at once (most wait on a connection timeout) and collect the results by label."""
    with ThreadPoolExecutor(max_workers=max(1, len(attempts))) as pool:
        futures = {label: pool.submit(attempt) for label, attempt in attempts.items()}
        return {label: future.result() for label, future in futures.items()}


def bedrock_name(twin: VpcTwin) -> str:
    return next(name for name in twin.aws_names if name.startswith("bedrock-runtime."))
