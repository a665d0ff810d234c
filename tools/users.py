"""Make the people of a running gateway match `people/<stack>.yaml` (people_file.py), through LiteLLM's admin API.

    python -m tools.tunnel --stack dev litellm &      # the admin API is closed at the edge
    export LITELLM_MASTER_KEY=$(aws secretsmanager get-secret-value --query SecretString --output text \\
        --secret-id "$(pulumi stack output litellmMasterKeySecretArn -s dev)")
    python -m tools.users --stack dev list            # each person: tier, spend against budget, next reset
    python -m tools.users --stack dev diff            # what apply would change, changing nothing
    python -m tools.users --stack dev apply --gateway "$(pulumi stack output gatewayUrl -s dev)"
    python -m tools.users --stack dev rotate alice@example.com --gateway ...
    python -m tools.users --stack dev block alice@example.com   # at once; then mark them in the file

A person is a LiteLLM user (role internal_user_viewer: may call models, may not mint keys) carrying the budget, period
and models, plus one key (type llm_api: model routes only) carrying the same models and the tier's cap on requests
in flight. Removing someone blocks their keys and keeps their spend. Rotating issues a new key and retires the old
ones (blocked, never unblocked). `apply` is idempotent: a second run finds nothing to change.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from offline.engine import stack_settings
from offline.text import aligned
from people_file import Person, load_people, people_path
from settings import Settings
from tools.cli import run_tool
from tools.litellm_admin import Admin

MANAGED_BY = "tools.users"
PERSON_ROLE = "internal_user_viewer"
KEY_TYPE = "llm_api"


@dataclass(frozen=True)
class Key:
    token: str  # LiteLLM's hash of the key; the key itself is shown once, when issued
    alias: str
    blocked: bool
    retired: bool  # replaced by a rotation: stays blocked
    models: tuple[str, ...]
    max_parallel_requests: int | None


@dataclass(frozen=True)
class Account:
    """A LiteLLM user as the gateway holds it."""

    user_id: str
    managed: bool
    tier: str | None
    role: str | None
    max_budget: float | None
    budget_duration: str | None
    models: tuple[str, ...]
    blocked: bool
    spend: float
    budget_reset_at: str | None
    keys: tuple[Key, ...] = ()

    @property
    def live_keys(self) -> tuple[Key, ...]:
        return tuple(k for k in self.keys if not k.retired)

    @property
    def open_retired_keys(self) -> tuple[Key, ...]:
        """Retired but not blocked: a rotation interrupted between its two steps; still usable until blocked."""
        return tuple(k for k in self.keys if k.retired and not k.blocked)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Change:
    action: str  # create, update, block, unblock, rotate
    user_id: str
    what: tuple[str, ...]
    requests: tuple[Request, ...]
    person: Person | None = field(default=None, compare=False)


def _key(row: dict[str, Any]) -> Key:
    metadata = row.get("metadata") or {}
    return Key(token=row["token"], alias=row.get("key_alias") or "", blocked=bool(row.get("blocked")),
               retired=bool(metadata.get("retired")), models=tuple(row.get("models") or ()),
               max_parallel_requests=row.get("max_parallel_requests"))


def _account(row: dict[str, Any], keys: Iterable[Key]) -> Account:
    metadata = row.get("metadata") or {}
    return Account(user_id=row["user_id"], managed=metadata.get("managed_by") == MANAGED_BY,
                   tier=metadata.get("tier"), role=row.get("user_role"), max_budget=row.get("max_budget"),
                   budget_duration=row.get("budget_duration"), models=tuple(row.get("models") or ()),
                   blocked=bool(metadata.get("blocked")), spend=float(row.get("spend") or 0),
                   budget_reset_at=row.get("budget_reset_at"), keys=tuple(sorted(keys, key=lambda k: k.alias)))


def observe(admin: Admin) -> dict[str, Account]:
    """Every user and key the gateway holds (two paged sweeps, however many people)."""
    keys: dict[str, list[Key]] = defaultdict(list)
    for row in admin.list_keys():
        if row.get("user_id"):
            keys[row["user_id"]].append(_key(row))
    return {row["user_id"]: _account(row, keys[row["user_id"]]) for row in admin.list_users()}


# --- what a person should look like ---------------------------------------------------------------------------

def _metadata(person: Person) -> dict[str, Any]:
    return {"tier": person.tier, "managed_by": MANAGED_BY, "blocked": person.blocked}


def user_body(person: Person) -> dict[str, Any]:
    """Every field /user/update would otherwise fill from LiteLLM's defaults is sent, null included (sending a
    role without a budget resets the budget to `max_internal_user_budget`: internal_user_endpoints.py)."""
    return {"user_id": person.user_id, "user_alias": person.user_id, "user_role": PERSON_ROLE,
            "models": list(person.models), "max_budget": person.max_budget,
            "budget_duration": person.budget_duration, "metadata": _metadata(person)}


def _key_limits(person: Person) -> dict[str, Any]:
    return {"models": list(person.models), "max_parallel_requests": person.max_parallel_requests}


def new_key(person: Person, existing: Sequence[Key], when: datetime) -> Request:
    taken = {k.alias for k in existing}
    number = len(existing) + 1
    while f"{person.user_id}/{number}" in taken:  # aliases are unique across the proxy
        number += 1
    return Request("POST", "/key/generate", {
        "user_id": person.user_id, "key_alias": f"{person.user_id}/{number}", "key_type": KEY_TYPE,
        **_key_limits(person), "metadata": {"managed_by": MANAGED_BY, "issued": when.isoformat(timespec="seconds")}})


def budget_text(value: float | None, period: str | None) -> str:
    return "unlimited" if value is None else f"${value:,.2f}/{period}"


def _user_differences(person: Person, account: Account) -> list[str]:
    found = []
    if account.tier != person.tier:
        found.append(f"tier {account.tier} -> {person.tier}")
    same_budget = (account.max_budget is None) == (person.max_budget is None) and (
        person.max_budget is None or math.isclose(account.max_budget or 0, person.max_budget))
    if not same_budget or account.budget_duration != person.budget_duration:
        found.append(f"budget {budget_text(account.max_budget, account.budget_duration)} -> "
                     f"{budget_text(person.max_budget, person.budget_duration)}")
    added, removed = set(person.models) - set(account.models), set(account.models) - set(person.models)
    if added or removed:
        found.append("models " + " ".join([*(f"+{m}" for m in sorted(added)), *(f"-{m}" for m in sorted(removed))]))
    if account.role != PERSON_ROLE:
        found.append(f"role {account.role} -> {PERSON_ROLE}")
    if not account.managed:
        found.append(f"adopted (managed by {MANAGED_BY} from now on)")
    return found


def _key_updates(person: Person, account: Account) -> list[Request]:
    limits = _key_limits(person)
    return [Request("POST", "/key/update", {"key": key.token, **limits}) for key in account.live_keys
            if set(key.models) != set(person.models) or key.max_parallel_requests != person.max_parallel_requests]


def _blocking(account: Account, block: bool) -> list[Request]:
    path = "/key/block" if block else "/key/unblock"
    return [Request("POST", path, {"key": k.token}) for k in account.live_keys if k.blocked != block]


def _closing_retired(account: Account) -> list[Request]:
    return [Request("POST", "/key/block", {"key": k.token}) for k in account.open_retired_keys]


def change_for(person: Person, account: Account | None, when: datetime) -> Change | None:
    """What brings the gateway to `person`; None when it already matches."""
    if account is None:
        requests = [Request("POST", "/user/new", {**user_body(person), "auto_create_key": False})]
        if not person.blocked:
            requests.append(new_key(person, (), when))
        budget = budget_text(person.max_budget, person.budget_duration)
        return Change("create", person.user_id, (f"{person.tier}, {budget}, {len(person.models) // 2} models",),
                      tuple(requests), person)
    what = _user_differences(person, account)
    body = user_body(person)
    if account.tier is not None and account.tier != person.tier and account.spend:
        # A new tier starts from nothing: this month's spend under the old tier (an admin's $40) would otherwise lock
        # a developer ($10) out until the 1st. The spend logs keep what was spent.
        body["spend"] = 0
        what.append(f"spend ${account.spend:,.2f} -> $0.00 (the new tier starts from nothing)")
    requests = [Request("POST", "/user/update", body)] if what or account.blocked != person.blocked else []
    if keys := _key_updates(person, account):
        what.append(f"{len(keys)} key(s): models and parallel-request cap")
        requests += keys
    requests += _blocking(account, person.blocked)
    if closing := _closing_retired(account):
        requests += closing
        what.append(f"{len(closing)} retired key(s) still open: blocked")
    action = "block" if person.blocked and not account.blocked else "unblock" if account.blocked and \
        not person.blocked else "update"
    if not person.blocked and not account.live_keys:
        requests.append(new_key(person, account.keys, when))
        what.append("new key (none live)")
    if action != "update":
        what.insert(0, f"{len(account.live_keys)} key(s) {action}ed; spend ${account.spend:,.2f} kept")
    return Change(action, person.user_id, tuple(what), tuple(requests), person) if requests else None


def _removed(account: Account) -> Change | None:
    """A managed person no longer in the file: keys blocked, the user and its spend kept."""
    requests = _blocking(account, block=True) + _closing_retired(account)
    if not account.blocked:
        requests.insert(0, Request("POST", "/user/update", {"user_id": account.user_id, "metadata": {
            "tier": account.tier, "managed_by": MANAGED_BY, "blocked": True}}))
    return Change("block", account.user_id, (f"not in the people file: {len(account.live_keys)} key(s) blocked; "
                  f"spend ${account.spend:,.2f} kept",), tuple(requests)) if requests else None


def plan(people: Sequence[Person], accounts: dict[str, Account], when: datetime) -> list[Change]:
    """Every change, in the file's order, then the removals; users not made by this tool are left alone."""
    wanted = {p.user_id for p in people}
    changes = [change_for(p, accounts.get(p.user_id), when) for p in people]
    changes += [_removed(a) for a in accounts.values() if a.managed and a.user_id not in wanted]
    return [c for c in changes if c is not None]


def rotation(person: Person, account: Account | None, when: datetime) -> Change:
    if account is None or person.blocked:
        raise ValueError(f"{person.user_id}: only an active person on the gateway has a key to rotate; run apply")
    # Blocked first: should the second step fail, the key is closed (and apply blocks any retired key still open).
    retire = [r for key in account.live_keys for r in (
        Request("POST", "/key/block", {"key": key.token}),
        Request("POST", "/key/update", {"key": key.token, "metadata": {
            "managed_by": MANAGED_BY, "retired": when.isoformat(timespec="seconds")}}))]
    return Change("rotate", person.user_id, (f"new key; {len(account.live_keys)} old key(s) retired",),
                  (new_key(person, account.keys, when), *retire), person)


def unmanaged(accounts: dict[str, Account]) -> list[str]:
    return sorted(a.user_id for a in accounts.values() if not a.managed)


# --- applying and showing ---------------------------------------------------------------------------------------

def apply(admin: Admin, changes: Sequence[Change],
          announce: Callable[[str, str], None] = lambda user_id, key: None) -> dict[str, str]:
    """Send every change's requests in order; return the keys issued, by person. Each key is announced the moment
    it exists: LiteLLM never shows it again, so a later failure must not swallow it."""
    issued = {}
    for change in changes:
        for request in change.requests:
            answer = admin.call(request.method, request.path, body=request.body)
            if request.path == "/key/generate":
                issued[change.user_id] = answer["key"]
                announce(change.user_id, answer["key"])
    return issued


SYMBOLS = {"create": "+", "update": "~", "block": "-", "unblock": "+", "rotate": "~"}


def render_diff(changes: Sequence[Change], unchanged: int, ignored: Sequence[str]) -> str:
    lines = [f"{SYMBOLS[c.action]} {c.action:<8} {c.user_id:<32} {'; '.join(c.what)}" for c in changes]
    lines.append(f"= {unchanged} unchanged" + (f"; left alone (not made by {MANAGED_BY}): {', '.join(ignored)}"
                                               if ignored else ""))
    return "\n".join(lines)


def render_list(accounts: dict[str, Account]) -> str:
    rows = [("person", "tier", "status", "spend / budget", "resets", "keys")]
    for account in sorted(accounts.values(), key=lambda a: a.user_id):
        status = "blocked" if account.blocked else "active" if account.managed else "unmanaged"
        budget = "unlimited" if account.max_budget is None else f"${account.max_budget:,.2f}"
        usable = sum(not k.blocked for k in account.keys)
        rows.append((account.user_id, account.tier or "-", status, f"${account.spend:,.2f} / {budget}",
                     (account.budget_reset_at or "-")[:16], f"{usable} of {len(account.keys)} usable"))
    return "\n".join(aligned(rows))


# --- Claude Code ------------------------------------------------------------------------------------------------

FAMILIES = ("opus", "sonnet", "haiku")  # strongest first


def _family(model: str) -> int:
    return next((i for i, family in enumerate(FAMILIES) if family in model), len(FAMILIES))


def claude_code_setup(settings: Settings, tier: str, url: str, key: str) -> dict[str, str]:
    """Claude Code's environment for a person of `tier`: every model name it may ask for is one the tier may use.
    Claude Code's own defaults (newer models than the gateway serves) are never asked for."""
    models = sorted(settings.budgets[tier].models or settings.models, key=_family)

    def pick(family: str) -> str:
        """That family if the tier has it, else the nearest the tier has (by strength)."""
        wanted = FAMILIES.index(family)
        return min(models, key=lambda m: (abs(_family(m) - wanted), _family(m)))

    return {"ANTHROPIC_BASE_URL": url.rstrip("/"), "ANTHROPIC_AUTH_TOKEN": key,
            "ANTHROPIC_MODEL": pick("sonnet"), "ANTHROPIC_DEFAULT_OPUS_MODEL": pick("opus"),
            "ANTHROPIC_DEFAULT_SONNET_MODEL": pick("sonnet"), "ANTHROPIC_DEFAULT_HAIKU_MODEL": pick("haiku"),
            "CLAUDE_CODE_SUBAGENT_MODEL": pick("sonnet"),
            # No telemetry, error reports or update checks to Anthropic; no experimental betas Bedrock may reject.
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS": "1"}


def print_setup(environment: dict[str, str]) -> None:
    print("# Claude Code: add to your shell profile ...")
    print("\n".join(f"export {name}={shlex.quote(value)}" for name, value in environment.items()))
    print("# ... or to ~/.claude/settings.json")
    print(json.dumps({"env": environment}, indent=2))


def announcer(settings: Settings, people: Sequence[Person], gateway: str | None) -> Callable[[str, str], None]:
    """Prints a new key (and the person's Claude Code setup when the gateway's URL is known) as soon as it exists."""
    tiers = {p.user_id: p.tier for p in people}

    def announce(user_id: str, key: str) -> None:
        print(f"\n# {user_id}: {key}  (shown once: hand it over privately)", flush=True)
        if gateway:
            print_setup(claude_code_setup(settings, tiers[user_id], gateway, key))
    return announce


# --- command line -----------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--url", default="http://localhost:4000",
                        help="LiteLLM: through the tunnel (default), or the gateway from an address in edge.adminCidrs")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="each person: tier, spend against budget, next reset, keys")
    commands.add_parser("diff", help="what apply would change (changes nothing)")
    for name, text in (("apply", "make the gateway match the people file; print new keys"),
                       ("rotate", "issue a person a new key and retire the old ones"),
                       ("block", "block a person's keys now (then mark them blocked in the file)")):
        command = commands.add_parser(name, help=text)
        if name != "apply":
            command.add_argument("user_id")
        if name != "block":
            command.add_argument("--gateway", help="the URL people use (stack output gatewayUrl): prints each new "
                                 "key's Claude Code setup")
    return parser


def run(options: argparse.Namespace, admin: Admin, settings: Settings, people: Sequence[Person],
        when: datetime) -> int:
    accounts = observe(admin)
    if options.command == "list":
        print(render_list(accounts))
        return 0
    if options.command in ("diff", "apply"):
        changes = plan(people, accounts, when)
        print(render_diff(changes, len(people) - sum(c.person is not None for c in changes), unmanaged(accounts)))
        if options.command == "apply":
            apply(admin, changes, announcer(settings, people, options.gateway))
        return 0
    person = next((p for p in people if p.user_id == options.user_id), None)
    if person is None:
        raise ValueError(f"{options.user_id}: not in {people_path(settings.stack).name}")
    if options.command == "rotate":
        apply(admin, [rotation(person, accounts.get(person.user_id), when)],
              announcer(settings, people, options.gateway))
        return 0
    blocked = change_for(replace(person, blocked=True), accounts.get(person.user_id), when)
    apply(admin, [blocked] if blocked else [])
    print(f"{person.user_id}: keys blocked. Set `blocked: true` for them in {people_path(settings.stack).name}, "
          "or the next apply unblocks them.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    options = parser.parse_args(argv)
    master_key = os.environ.get("LITELLM_MASTER_KEY")
    if not master_key:
        parser.error("set LITELLM_MASTER_KEY (the stack's litellm-master-key secret)")
    settings = stack_settings(options.stack)
    people = load_people(settings)
    return run(options, Admin(options.url, master_key), settings, people, datetime.now(UTC))


if __name__ == "__main__":
    sys.exit(run_tool(main))
