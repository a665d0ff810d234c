"""What `make mutate` runs stays applicable (the run itself takes tens of minutes and is not part of the suite): each
catalogue entry's text is in its file exactly once and names test modules that exist; every package yields generated
mutants, each a one-place change that is still Python."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bench.mutants import mutants_of
from bench.mutate import MUTATIONS, PACKAGES, ROOT_DIR, sample_of


def test_every_mutation_still_applies_and_names_real_tests() -> None:
    assert len(MUTATIONS) >= 25 and len({m.name for m in MUTATIONS}) == len(MUTATIONS)
    for mutation in MUTATIONS:
        assert (ROOT_DIR / mutation.path).read_text().count(mutation.old) == 1, mutation.name
        assert mutation.old != mutation.new and all((ROOT_DIR / t).exists() for t in mutation.tests), mutation.name


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_yields_mutants_that_still_parse(package: str) -> None:
    sample = sample_of(package, ROOT_DIR, 12)
    assert len(sample) == 12 and sample == sample_of(package, ROOT_DIR, 12), "a fixed sample"
    for mutant in sample:
        original = (ROOT_DIR / mutant.path).read_text()
        changed = mutant.apply(original)
        assert changed != original and ast.dump(ast.parse(changed)) != ast.dump(ast.parse(original)), mutant.name


def test_the_generator_makes_each_kind_of_mistake_and_skips_text(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text('''"""Docstring 1."""
LIMIT: int = 100


def check(value: int, names: tuple[str, ...] = ("a", "b")) -> bool:
    """Not 2."""
    if value < LIMIT and not names:
        raise ValueError(f"{value:.2f} over")
    return value >= 0 or True
''')
    changed = {m.what: m.apply(source.read_text()) for m in mutants_of(source, tmp_path)}
    assert set(changed) == {
        "100 -> 1000", "'b' left out", "And swapped", "'value < LIMIT' turned around", "`not` forgotten",
        "check dropped (raise removed)", "'value >= 0' turned around", "0 -> 1", "True flipped", "Or swapped"}
    assert "(value <= LIMIT)" in changed["'value < LIMIT' turned around"]
    assert "        pass\n" in changed["check dropped (raise removed)"]


def test_a_change_inside_a_long_statement_is_credited_to_its_first_line(tmp_path: Path) -> None:
    """Coverage records a statement that spans lines on its first: the mutant must carry that line, or no test is
    found for it. zip's strict= is left alone (it only fires on a programming error)."""
    source = tmp_path / "sample.py"
    source.write_text('ROUTES = frozenset({\n    "a",\n    "b",\n})\nPAIRS = list(zip(ROUTES, ROUTES, strict=True))\n')
    (left_out,) = mutants_of(source, tmp_path)
    assert (left_out.what, left_out.start[0], left_out.statement) == ("'b' left out", 3, 1)
