"""The mutation catalogue `make mutate` runs (bench/mutate.py) stays applicable: each mutation's text is in its file
exactly once and each names test modules that exist (the run itself takes minutes and is not part of the suite)."""

from __future__ import annotations

from bench.mutate import MUTATIONS, ROOT_DIR


def test_every_mutation_still_applies_and_names_real_tests() -> None:
    assert len(MUTATIONS) >= 25 and len({m.name for m in MUTATIONS}) == len(MUTATIONS)
    for mutation in MUTATIONS:
        assert (ROOT_DIR / mutation.path).read_text().count(mutation.old) == 1, mutation.name
        assert mutation.old != mutation.new and all((ROOT_DIR / t).exists() for t in mutation.tests), mutation.name
