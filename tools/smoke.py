"""After a deploy: does the gateway do what its users rely on? One row per check, exit 1 if any fails.

    python -m tools.smoke --stack dev          # URL and key from the stack's outputs and Secrets Manager

Checks: no key -> 401; /v1/models lists exactly the stack's models; a tiny call to the cheapest model through the
OpenAI API and one through the Anthropic Messages API, streamed, each answering with text; the admin API from
outside -> 403; /metrics not served; Grafana under /grafana/ (its login page from an address in
`edge.grafanaCidrs` with --grafana-viewer, else 403 at the edge); in public-alb mode, the ALB refuses a request
without CloudFront's origin header. Run it from outside `edge.adminCidrs` (an admin address is let through to the
admin API).

The master key's authentication never touches the database, so it cannot see what people meet. With a person's key
in GATEWAY_PERSON_KEY (the stack's `ci-smoke-test` person, or `--person`), the same gateway is also asked as that
person: /v1/models lists their tier's models, a call to the tier's cheapest model answers, a model outside the tier is
refused; with `--admin-url` (the tunnel) their budget and keys are read and compared with the people file.

    GATEWAY_PERSON_KEY=sk-... python -m tools.smoke --stack dev --admin-url http://localhost:4000
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from catalog import MODEL_CATALOG
from offline.engine import stack_settings
from offline.text import aligned
from people_file import Person, client_names, load_people
from settings import Settings
from tools import users
from tools.cli import ToolError, command_output, run_tool, stack_outputs
from tools.http import Answer, fetch
from tools.litellm_admin import Admin, AdminError

SMOKE_PERSON = "ci-smoke-test"
PROMPT = [{"role": "user", "content": "Answer with one word: ok"}]


@dataclass(frozen=True)
class PersonUnderTest:
    """A person of the people file and one of their keys; `admin` reads what the gateway holds for them."""

    person: Person
    key: str
    admin: Admin | None = None


@dataclass(frozen=True)
class Target:
    """A deployed gateway as the smoke test sees it."""

    url: str
    key: str
    models: tuple[str, ...]
    # The ALB's own address in public-alb mode (reachable from the internet, must refuse); None for an internal ALB.
    origin_url: str | None = None
    # Whether this runs from an address the edge lets through to Grafana (edge.grafanaCidrs).
    grafana_viewer: bool = False
    person: PersonUnderTest | None = None


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    expected: str
    got: str


def cheapest(models: tuple[str, ...]) -> str:
    return min(models, key=lambda m: MODEL_CATALOG[m].input_usd_per_mtok + MODEL_CATALOG[m].output_usd_per_mtok)


def _served(target: Target, names: tuple[str, ...]) -> tuple[str, ...]:
    """Those of `names` the stack serves, under both the gateway's and the dated name (LiteLLM lists both)."""
    return tuple(m for m in names if m in client_names(target.models))


def _status(name: str, answer: Answer, expected: tuple[int, ...]) -> Check:
    return Check(name, answer.status in expected, " or ".join(map(str, expected)), str(answer.status))


def _listed_models(target: Target, auth: dict[str, str], expected: tuple[str, ...], name: str) -> Check:
    answer = fetch(f"{target.url}/v1/models", headers=auth)
    listed = sorted(m["id"] for m in answer.json()["data"]) if answer.status == 200 else []
    return Check(name, listed == sorted(expected), ", ".join(sorted(expected)), ", ".join(listed) or
                 f"HTTP {answer.status}")


def _chat(target: Target, auth: dict[str, str], model: str) -> Answer:
    return fetch(f"{target.url}/v1/chat/completions", {"model": model, "max_tokens": 8, "messages": PROMPT}, auth)


def _openai_call(target: Target, auth: dict[str, str], model: str, whose: str = "") -> Check:
    answer = _chat(target, auth, model)
    text = answer.json()["choices"][0]["message"]["content"] if answer.status == 200 else ""
    return Check(f"OpenAI chat completion{whose} ({model})", answer.status == 200 and bool(text), "200 with text",
                 f"{answer.status} {text[:40]!r}" if text else f"HTTP {answer.status} {answer.body[:80]!r}")


def _outside_the_tier(target: Target, person: PersonUnderTest, auth: dict[str, str]) -> Check:
    name = f"a model outside {person.person.user_id}'s tier is refused"
    outside = [m for m in target.models if m not in person.person.models]
    if not outside:
        return Check(name, True, "400, 401, 403 or 404", f"n/a: tier {person.person.tier} has every model")
    model = cheapest(tuple(outside))
    answer = _chat(target, auth, model)
    return Check(f"{name} ({model})", answer.status in (400, 401, 403, 404), "400, 401, 403 or 404",
                 f"HTTP {answer.status}")


def budget_check(person: PersonUnderTest) -> Check:
    name = f"{person.person.user_id}'s budget and keys match the people file"
    if person.admin is None:
        return Check(name, True, "as the file says", "n/a: no --admin-url (python -m tools.tunnel)")
    account = users.observe(person.admin).get(person.person.user_id)
    if account is None:
        return Check(name, False, "as the file says", "not on the gateway: run tools.users apply")
    change = users.change_for(person.person, account, datetime.now(UTC))
    budget = users.budget_text(account.max_budget, account.budget_duration)
    spent = f"spent ${account.spend:,.2f} of {budget}, resets {(account.budget_reset_at or '-')[:16]}"
    return Check(name, change is None, "as the file says", spent if change is None else "; ".join(change.what))


def _person_steps(target: Target, person: PersonUnderTest) -> list[tuple[str, Callable[[], Check]]]:
    auth = {"Authorization": f"Bearer {person.key}"}
    whose = f" with {person.person.user_id}'s key"
    served = _served(target, person.person.models)
    return [
        (f"/v1/models{whose}", lambda: _listed_models(
            target, auth, served, f"/v1/models{whose} lists tier {person.person.tier}'s models")),
        (f"OpenAI chat completion{whose}", lambda: _openai_call(
            target, auth, cheapest(tuple(m for m in served if m in target.models)), whose)),
        (f"a model outside {person.person.user_id}'s tier", lambda: _outside_the_tier(target, person, auth)),
        (f"{person.person.user_id}'s budget", lambda: budget_check(person)),
    ]


def _anthropic_stream(target: Target, auth: dict[str, str]) -> Check:
    model = cheapest(target.models)
    answer = fetch(f"{target.url}/v1/messages", {"model": model, "max_tokens": 8, "stream": True,
                                                 "messages": PROMPT},
                   {**auth, "anthropic-version": "2023-06-01"})
    events = [line.removeprefix(b"event:").strip().decode() for line in answer.body.splitlines()
              if line.startswith(b"event:")]
    complete = answer.status == 200 and events[:1] == ["message_start"] and events[-1:] == ["message_stop"] \
        and "content_block_delta" in events
    return Check(f"Anthropic Messages, streamed ({model})", complete, "200, message_start, text ... message_stop",
                 f"{answer.status}, {len(events)} events" + (f" ({events[0]} ... {events[-1]})" if events else ""))


def _grafana(target: Target) -> Check:
    answer = fetch(f"{target.url}/grafana/login")
    if not target.grafana_viewer:
        return _status("Grafana closed to this address (grafanaCidrs)", answer, (403,))
    return Check("Grafana's login page under /grafana/", answer.status == 200 and b"Grafana" in answer.body,
                 "200, a Grafana page", f"{answer.status}")


ORIGIN_CHECK = "ALB refuses a request without the origin header"


def _origin(target: Target) -> Check:
    if target.origin_url is None:
        return Check(ORIGIN_CHECK, True, "403 (public-alb)", "n/a: internal ALB (vpc-origin)")
    return _status(ORIGIN_CHECK, fetch(f"{target.origin_url}/v1/models"), (403,))


def checks(target: Target) -> list[Check]:
    auth = {"Authorization": f"Bearer {target.key}"}
    steps: list[tuple[str, Callable[[], Check]]] = [
        ("no key is refused", lambda: _status("no key is refused", fetch(f"{target.url}/v1/models"), (401,))),
        ("/v1/models", lambda: _listed_models(target, auth, target.models, "/v1/models lists the stack's models")),
        ("OpenAI chat completion", lambda: _openai_call(target, auth, cheapest(target.models))),
        ("Anthropic Messages, streamed", lambda: _anthropic_stream(target, auth)),
        ("admin API closed from outside", lambda: _status(
            "admin API closed from outside", fetch(f"{target.url}/key/list", headers=auth), (403,))),
        ("/metrics not served", lambda: _status("/metrics not served", fetch(f"{target.url}/metrics"), (403, 404))),
        ("Grafana", lambda: _grafana(target)),
        (ORIGIN_CHECK, lambda: _origin(target)),
    ]
    return [_guarded(name, step) for name, step in steps] + person_checks(target)


def person_checks(target: Target) -> list[Check]:
    """What the person under test meets; none without one."""
    steps = _person_steps(target, target.person) if target.person else []
    return [_guarded(name, step) for name, step in steps]


def _guarded(name: str, step: Callable[[], Check]) -> Check:
    """A check that cannot even ask (DNS, TLS, timeout, a malformed answer) fails with the reason."""
    try:
        return step()
    except (OSError, ValueError, KeyError, IndexError, ToolError, AdminError) as error:
        return Check(name, False, "an answer", f"{type(error).__name__}: {error}")


def render(results: list[Check]) -> str:
    rows = [("", "check", "expected", "got")] + [("ok" if c.ok else "FAIL", c.name, c.expected, c.got)
                                                 for c in results]
    lines = aligned(rows)
    failed = sum(not c.ok for c in results)
    return "\n".join([*lines, f"{len(results) - failed} passed, {failed} failed"])


def run(target: Target) -> int:
    results = checks(target)
    print(render(results))
    return 1 if any(not c.ok for c in results) else 0


def _aws(*arguments: str) -> str:
    return command_output(["aws", *arguments], "to read the stack's master key", timeout_seconds=60).strip()


def master_key_of(settings: Settings, outputs: dict[str, Any]) -> str:
    return _aws("secretsmanager", "get-secret-value", "--secret-id", outputs["litellmMasterKeySecretArn"],
                "--query", "SecretString", "--output", "text", "--region", settings.region)


def target_of(settings: Settings, outputs: dict[str, Any], key: str | None = None,
              grafana_viewer: bool = False, person: PersonUnderTest | None = None) -> Target:
    """The deployed settings' models and edge, the URL and ALB from the outputs; the master key from Secrets
    Manager unless given."""
    key = key or master_key_of(settings, outputs)
    origin = outputs.get("originUrl")
    return Target(url=outputs["gatewayUrl"].rstrip("/"), key=key, models=settings.models,
                  origin_url=origin if settings.edge.origin_mode == "public-alb" else None,
                  grafana_viewer=grafana_viewer, person=person)


def person_under_test(settings: Settings, user_id: str, key: str, admin_url: str | None,
                      master_key: str) -> PersonUnderTest:
    """`user_id` from the stack's people file, with the key given; the admin API at `admin_url` when given."""
    found = next((p for p in load_people(settings) if p.user_id == user_id), None)
    if found is None:
        raise ToolError(f"--person {user_id}: not in people/{settings.stack}.yaml")
    return PersonUnderTest(found, key, Admin(admin_url, master_key) if admin_url else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--key", help="an API key (default: the stack's master key from Secrets Manager)")
    parser.add_argument("--grafana-viewer", action="store_true",
                        help="this address is in edge.grafanaCidrs: expect Grafana's login page, not 403")
    parser.add_argument("--person", default=SMOKE_PERSON,
                        help=f"whose key GATEWAY_PERSON_KEY is (default {SMOKE_PERSON}, in people/<stack>.yaml)")
    parser.add_argument("--admin-url", help="LiteLLM's admin API through the tunnel: also check the person's budget")
    options = parser.parse_args(argv)
    outputs = stack_outputs(options.stack, show_secrets=True)
    settings = stack_settings(options.stack)
    target = target_of(settings, outputs, options.key, options.grafana_viewer)
    person_key = os.environ.get("GATEWAY_PERSON_KEY")
    if person_key:
        # The admin API wants the master key, whatever --key gave the other checks.
        master_key = target.key if options.key is None else master_key_of(settings, outputs)
        target = replace(target, person=person_under_test(settings, options.person, person_key, options.admin_url,
                                                          master_key))
    return run(target)


if __name__ == "__main__":
    sys.exit(run_tool(main))
