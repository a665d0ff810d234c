"""Shared fixtures: the real program run once per stack under the recording mock engine (preview=False)."""

from __future__ import annotations

import pytest

from offline.engine import Graph, stack_config
from tests.stacks import planned

# Modules that run real servers and wait on them (scrape and rule intervals, a proxy's start) go to the workers first,
# so their waiting overlaps the CPU-bound modules instead of ending the run alone; with `--no-loadscope-reorder`
# pytest-xdist hands modules out in this order (by default it would order them by test count).
LONG_RUNNING_FIRST = ("test_vpc_twin.py", "test_alerting.py", "test_images.py", "test_migration_entry_point.py",
                      "test_services.py", "test_plan.py", "test_edge.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONG_RUNNING_FIRST.index(name) if name in LONG_RUNNING_FIRST else len(LONG_RUNNING_FIRST)
    items.sort(key=rank)


@pytest.fixture(scope="session")
def dev() -> Graph:
    return planned("dev")


@pytest.fixture(scope="session")
def prod() -> Graph:
    return planned("prod")


@pytest.fixture(params=["dev", "prod"], scope="session")
def stack(request: pytest.FixtureRequest, dev: Graph, prod: Graph) -> Graph:
    return {"dev": dev, "prod": prod}[request.param]


@pytest.fixture
def dev_config() -> dict[str, str]:
    """Stack dev's config as Pulumi hands it over, for a test to change one key."""
    return stack_config("dev")
