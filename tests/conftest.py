"""Shared fixtures: the real program run once per stack under the recording mock engine (preview=False)."""

from __future__ import annotations

import pytest

from offline.engine import Graph, run, stack_config


@pytest.fixture(scope="session")
def dev() -> Graph:
    return run("dev")


@pytest.fixture(scope="session")
def prod() -> Graph:
    return run("prod")


@pytest.fixture(params=["dev", "prod"], scope="session")
def stack(request: pytest.FixtureRequest, dev: Graph, prod: Graph) -> Graph:
    return {"dev": dev, "prod": prod}[request.param]


@pytest.fixture
def dev_config() -> dict[str, str]:
    """Stack dev's config as Pulumi hands it over, for a test to change one key."""
    return stack_config("dev")
