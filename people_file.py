"""Who may use a stack's gateway, as code: `people/<stack>.yaml` lists each person with a tier from the stack's
`budgets`, and optionally their own budget or models. Settings the plan reads, kept beside settings.py (and
checked with the same error wording); `tools.users` makes the running gateway match them.

    people:
      alice@example.com: {tier: developer}
      bob@example.com: {tier: developer, maxBudgetUsd: 25}
      carol@example.com: {tier: test, blocked: true}     # keys blocked, spend history kept
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError

from catalog import MODEL_CATALOG
from settings import Section, Settings, describe_problem

ROOT_DIR = Path(__file__).resolve().parent
PEOPLE_DIR = ROOT_DIR / "people"

# LiteLLM's user ids are free text; ours are e-mail addresses or service names, printable and without spaces.
UserId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")]


class PeopleError(ValueError):
    """A people file that cannot be applied; the message names every offending entry."""


class PersonEntry(Section):
    tier: str
    max_budget_usd: float | None = Field(None, ge=0, description="Instead of the tier's budget.")
    models: tuple[str, ...] | None = Field(None, min_length=1, description="Instead of the tier's models.")
    blocked: bool = Field(False, description="Keys blocked; the person and their spend history stay.")


class PeopleFile(Section):
    people: dict[UserId, PersonEntry] = Field(default_factory=dict)


@dataclass(frozen=True)
class Person:
    """What the gateway should hold for one person: LiteLLM user fields, derived from the tier and overrides."""

    user_id: str
    tier: str
    max_budget: float | None  # None: unlimited
    budget_duration: str | None
    models: tuple[str, ...]  # the names the person's key may ask for, dated ones included
    max_parallel_requests: int
    blocked: bool


def people_path(stack: str) -> Path:
    return PEOPLE_DIR / f"{stack}.yaml"


def client_names(models: tuple[str, ...]) -> tuple[str, ...]:
    """Both names of each model: the gateway's and the dated one Claude Code asks for."""
    return (*models, *(MODEL_CATALOG[m].dated_name for m in models))


def person(settings: Settings, user_id: str, entry: PersonEntry) -> Person:
    budget = settings.budgets[entry.tier]
    limit = entry.max_budget_usd if entry.max_budget_usd is not None else budget.max_budget_usd
    # Every tier has its period, unlimited ones too: LiteLLM's reset job zeroes the spend of any user with a
    # budget_duration (proxy/utils.py get_data, reset_at), so an admin's counter is this month's, like everyone's.
    return Person(user_id=user_id, tier=entry.tier, max_budget=limit, budget_duration=budget.period,
                  models=client_names(entry.models or budget.models or settings.models),
                  max_parallel_requests=budget.max_parallel_requests, blocked=entry.blocked)


def _entry_problems(settings: Settings, user_id: str, entry: PersonEntry) -> list[str]:
    where = f"people.{user_id}"
    if entry.tier not in settings.budgets:
        return [f"{where}.tier = {entry.tier!r}: unknown tier; allowed: {', '.join(settings.budgets)}"]
    unserved = sorted(set(entry.models or ()) - set(settings.models))
    return [f"{where}.models: {unserved} are not served; allowed: {', '.join(settings.models)}"] if unserved else []


def parse_people(settings: Settings, raw: Any, source: str) -> tuple[Person, ...]:
    """The people of `raw` (a loaded people file), each checked against the stack's tiers and models."""
    try:
        parsed = PeopleFile.model_validate(raw if raw is not None else {})
    except ValidationError as error:
        raise PeopleError(f"{source}:\n  " + "\n  ".join(describe_problem(e) for e in error.errors())) from None
    problems = [p for user_id, entry in parsed.people.items() for p in _entry_problems(settings, user_id, entry)]
    if problems:
        raise PeopleError(f"{source}:\n  " + "\n  ".join(problems))
    return tuple(person(settings, user_id, entry) for user_id, entry in parsed.people.items())


def _ambiguities(node: yaml.Node, where: str = "") -> Iterator[str]:
    """Keys given twice in one mapping (YAML keeps the last, silently), and people whose names differ only in case
    (LiteLLM would make them two users)."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _ambiguities(item, where)
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[str, tuple[str, int]] = {}
    for key, value in node.value:
        name, line = str(key.value), key.start_mark.line + 1
        spelled = name.lower() if where == "people" else name
        if spelled in seen:
            first, first_line = seen[spelled]
            what = "given twice" if first == name else f"the same person as {first}, in another case"
            yield f"{where + '.' if where else ''}{name}: {what} (lines {first_line} and {line})"
        seen.setdefault(spelled, (name, line))
        yield from _ambiguities(value, f"{where + '.' if where else ''}{name}")


def load_people(settings: Settings, path: Path | None = None) -> tuple[Person, ...]:
    """The stack's people file, checked against its settings; errors name the file as the repository does."""
    path = path or people_path(settings.stack)
    shown = str(path.relative_to(ROOT_DIR) if path.is_relative_to(ROOT_DIR) else path)
    if not path.exists():
        raise PeopleError(f"{shown}: no such file; create it (see people_file.py)")
    text = path.read_text()
    if problems := list(_ambiguities(yaml.compose(text, Loader=yaml.SafeLoader))):
        raise PeopleError(f"{shown}:\n  " + "\n  ".join(problems))
    return parse_people(settings, yaml.safe_load(text), shown)
