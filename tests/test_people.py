"""People as code: `people/<stack>.yaml` -> tools.users -> LiteLLM's admin API.

The reconcile logic runs against a stateful stand-in of the admin API (tests/fakes/litellm_admin.py) that serves
exactly the routes the tool calls; every request it received is then checked against the OpenAPI document of the
real LiteLLM 1.108.7 app (tests/litellm_openapi.py). The database behind those routes cannot run here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from catalog import MODEL_CATALOG
from offline.engine import ROOT_DIR, stack_settings
from people_file import PeopleError, Person, load_people, parse_people, people_path
from settings import BUDGET_PERIOD
from tests import litellm_openapi
from tests.docs import documentation
from tests.fakes.litellm_admin import FakeLiteLLMAdmin
from tests.live import free_port, litellm_answer
from tools import smoke, users
from tools.litellm_admin import ROUTES, Admin, AdminError

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HAIKU, SONNET, OPUS = "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-5"
DATED = {HAIKU: "claude-haiku-4-5-20251001", SONNET: "claude-sonnet-4-5-20250929", OPUS: "claude-opus-4-5-20251101"}


def settings(stack: str = "dev") -> Any:
    return stack_settings(stack)


def people(raw: dict[str, Any]) -> tuple[Person, ...]:
    return parse_people(settings(), {"people": raw}, "test.yaml")


@pytest.fixture(scope="module")
def gateway() -> Iterator[FakeLiteLLMAdmin]:
    fake = FakeLiteLLMAdmin()
    yield fake
    fake.close()
    # Every admin request any test in this module made, judged by LiteLLM's own app.
    problems = [p for r in fake.requests for p in litellm_openapi.problems(r["method"], r["path"], r["query"],
                                                                              r["body"])]
    assert not problems, problems


@pytest.fixture
def fresh(gateway: FakeLiteLLMAdmin) -> FakeLiteLLMAdmin:
    gateway.users.clear()
    gateway.keys.clear()
    return gateway


def admin(fake: FakeLiteLLMAdmin) -> Admin:
    return Admin(fake.url, fake.master_key)


def sync(fake: FakeLiteLLMAdmin, wanted: tuple[Person, ...]) -> tuple[list[users.Change], dict[str, str]]:
    changes = users.plan(wanted, users.observe(admin(fake)), NOW)
    return changes, users.apply(admin(fake), changes)


# --- the file -----------------------------------------------------------------------------------------------------

def test_tiers_become_the_seeds_budgets_on_calendar_months() -> None:
    alice, root, ci = people({"alice@example.com": {"tier": "developer"}, "root": {"tier": "admin"},
                              "ci": {"tier": "test"}})
    assert (alice.max_budget, alice.budget_duration) == (10, "1mo")
    assert set(alice.models) == {HAIKU, SONNET, DATED[HAIKU], DATED[SONNET]}
    assert (root.max_budget, root.budget_duration) == (None, "1mo") and len(root.models) == 6
    assert (ci.max_budget, set(ci.models)) == (1, {HAIKU, DATED[HAIKU]})


def test_a_person_may_have_their_own_budget_or_models() -> None:
    (bob,) = people({"bob": {"tier": "developer", "maxBudgetUsd": 25, "models": [OPUS]}})
    assert (bob.max_budget, bob.budget_duration, bob.models) == (25, "1mo", (OPUS, DATED[OPUS]))


@pytest.mark.parametrize(("entry", "message"), [
    ({"carol": {"tier": "vip"}}, r"people\.carol\.tier = 'vip': unknown tier; allowed: admin, developer, test"),
    ({"carol": {"tier": "test", "models": ["claude-opus-9"]}}, r"people\.carol\.models: \['claude-opus-9'\] are not "
                                                                 "served"),
    ({"carol": {"tier": "test", "maxBudget": 5}}, r"people\.carol\.maxBudget: unknown setting: check its spelling"),
    ({"carol": {"tier": "test", "maxBudgetUsd": -1}}, r"people\.carol\.maxBudgetUsd = -1: .*greater than or equal"),
    ({"carol smith": {"tier": "test"}}, r"people\.carol smith\.\[key\] = 'carol smith': String should match"),
])
def test_a_bad_entry_is_named_before_anything_is_sent(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(PeopleError, match=message):
        people(entry)


def test_each_stacks_people_file_is_valid() -> None:
    for stack in ("dev", "prod"):
        assert people_path(stack).exists(), stack
        load_people(settings(stack))
    with pytest.raises(PeopleError, match=r"staging\.yaml: no such file"):
        load_people(settings(), people_path("staging"))


# --- reconciling a running gateway --------------------------------------------------------------------------------

def test_apply_creates_each_person_once_with_a_key_that_may_only_call_models(fresh: FakeLiteLLMAdmin) -> None:
    wanted = people({"alice@example.com": {"tier": "developer"}, "ci": {"tier": "test"}})
    changes, issued = sync(fresh, wanted)
    assert [(c.action, c.user_id) for c in changes] == [("create", "alice@example.com"), ("create", "ci")]
    assert set(issued) == {"alice@example.com", "ci"} and all(k.startswith("sk-") for k in issued.values())
    alice = fresh.users["alice@example.com"]
    assert (alice["max_budget"], alice["budget_duration"], alice["user_role"]) == (10, "1mo", "internal_user_viewer")
    assert alice["budget_reset_at"].endswith("-01T00:00:00+00:00"), "the 1st of next month"
    (key,) = [k for k in fresh.keys.values() if k["user_id"] == "alice@example.com"]
    assert (key["key_type"], key["max_parallel_requests"], set(key["models"])) == (
        "llm_api", 10, set(alice["models"]))
    sent = len(fresh.requests)
    assert sync(fresh, wanted) == ([], {}), "a second apply changes nothing"
    assert {r["method"] for r in fresh.requests[sent:]} == {"GET"}


def test_a_tier_change_updates_budget_and_models_without_a_new_key(fresh: FakeLiteLLMAdmin) -> None:
    sync(fresh, people({"ci": {"tier": "test"}}))
    tokens = set(fresh.keys)
    fresh.charge("ci", 0.40)
    changes, issued = sync(fresh, people({"ci": {"tier": "developer"}}))
    (change,) = changes
    assert change.action == "update" and issued == {}
    assert change.what[:3] == ("tier test -> developer", "budget $1.00/1mo -> $10.00/1mo",
                               f"models +{SONNET} +{DATED[SONNET]}")
    assert set(fresh.keys) == tokens, "the person keeps their key"
    (key,) = fresh.keys.values()
    assert set(key["models"]) == {HAIKU, SONNET, DATED[HAIKU], DATED[SONNET]}
    assert (fresh.users["ci"]["max_budget"], fresh.users["ci"]["spend"]) == (10, 0), "the new tier starts at $0"


def test_moving_an_admin_to_developer_never_locks_them_out(fresh: FakeLiteLLMAdmin) -> None:
    """An admin's budget is unlimited but monthly like every tier's; moving down starts the developer's $10 at $0,
    not at the $40 the admin spent this month."""
    sync(fresh, people({"jo": {"tier": "admin"}}))
    assert fresh.users["jo"]["budget_duration"] == "1mo" and fresh.users["jo"]["budget_reset_at"] is not None
    fresh.charge("jo", 40.0)
    (change,) = users.plan(people({"jo": {"tier": "developer"}}), users.observe(admin(fresh)), NOW)
    assert "spend $40.00 -> $0.00 (the new tier starts from nothing)" in change.what
    users.apply(admin(fresh), [change])
    assert (fresh.users["jo"]["max_budget"], fresh.users["jo"]["spend"]) == (10, 0)
    assert sync(fresh, people({"jo": {"tier": "developer"}})) == ([], {})


def test_a_model_dropped_from_the_stack_leaves_no_key_listing_it(fresh: FakeLiteLLMAdmin) -> None:
    """The model guard refuses a key that lists a model the stack no longer serves (custom_hooks.refusal): apply
    takes it off every key, in place."""
    sync(fresh, people({"gina": {"tier": "admin"}}))
    (key,) = fresh.keys.values()
    assert OPUS in key["models"]
    fewer = settings().model_copy(update={"models": (HAIKU, SONNET)})
    wanted = parse_people(fewer, {"people": {"gina": {"tier": "admin"}}}, "test.yaml")
    (change,) = users.plan(wanted, users.observe(admin(fresh)), NOW)
    users.apply(admin(fresh), [change])
    (key,) = fresh.keys.values()
    assert OPUS not in key["models"] and DATED[OPUS] not in key["models"]
    assert sync(fresh, wanted) == ([], {})


def test_removing_a_person_blocks_their_keys_and_keeps_their_spend(fresh: FakeLiteLLMAdmin) -> None:
    sync(fresh, people({"alice": {"tier": "developer"}, "bob": {"tier": "developer"}}))
    fresh.charge("bob", 3.25)
    changes, _ = sync(fresh, people({"alice": {"tier": "developer"}}))
    assert [(c.action, c.user_id, c.what) for c in changes] == [
        ("block", "bob", ("not in the people file: 1 key(s) blocked; spend $3.25 kept",))]
    (bobs,) = [k for k in fresh.keys.values() if k["user_id"] == "bob"]
    assert bobs["blocked"] is True and fresh.users["bob"]["spend"] == 3.25
    assert sync(fresh, people({"alice": {"tier": "developer"}}))[0] == [], "blocking is done once"
    back, issued = sync(fresh, people({"alice": {"tier": "developer"}, "bob": {"tier": "developer"}}))
    assert [c.action for c in back] == ["unblock"] and issued == {}, "coming back reopens the same key"
    assert bobs["blocked"] is False


def test_blocked_in_the_file_is_blocked_on_the_gateway(fresh: FakeLiteLLMAdmin) -> None:
    sync(fresh, people({"dave": {"tier": "test"}}))
    changes, _ = sync(fresh, people({"dave": {"tier": "test", "blocked": True}}))
    assert [c.action for c in changes] == ["block"]
    assert all(k["blocked"] for k in fresh.keys.values()) and fresh.users["dave"]["metadata"]["blocked"] is True


def test_rotation_issues_a_new_key_and_retires_the_old_for_good(fresh: FakeLiteLLMAdmin) -> None:
    wanted = people({"erin": {"tier": "developer"}})
    _, first = sync(fresh, wanted)
    (erin,) = wanted
    rotated = users.apply(admin(fresh), [users.rotation(erin, users.observe(admin(fresh))["erin"], NOW)])
    assert rotated["erin"] != first["erin"]
    keys = {k["key_alias"]: k for k in fresh.keys.values()}
    assert keys["erin/1"]["blocked"] and keys["erin/1"]["metadata"]["retired"]
    assert not keys["erin/2"]["blocked"] and keys["erin/2"]["models"] == list(erin.models)
    assert sync(fresh, wanted) == ([], {}), "apply never reopens a retired key"


def test_rotation_blocks_each_old_key_before_it_marks_it_retired(fresh: FakeLiteLLMAdmin) -> None:
    wanted = people({"hana": {"tier": "test"}})
    sync(fresh, wanted)
    (hana,) = wanted
    change = users.rotation(hana, users.observe(admin(fresh))["hana"], NOW)
    (old,) = fresh.keys
    steps = [(r.path, r.body.get("metadata", {}).get("retired") is not None) for r in change.requests
             if r.body.get("key") == old]
    assert steps == [("/key/block", False), ("/key/update", True)]


@pytest.mark.parametrize("in_file", [True, False], ids=["kept", "removed"])
def test_a_retired_key_left_open_is_counted_usable_and_blocked(fresh: FakeLiteLLMAdmin, in_file: bool) -> None:
    """A rotation interrupted after marking but before blocking (an older tool's order) left a usable key: `list`
    counts it, and apply closes it, whether the person stays in the file or not."""
    wanted = people({"ivan": {"tier": "test"}})
    sync(fresh, wanted)
    (token,) = fresh.keys
    fresh.keys[token]["metadata"]["retired"] = "2026-11-30T00:00:00+00:00"
    assert "1 of 1 usable" in users.render_list(users.observe(admin(fresh)))
    (change,) = users.plan(wanted if in_file else (), users.observe(admin(fresh)), NOW)
    assert "1 retired key(s) still open: blocked" in change.what if in_file else change.action == "block"
    users.apply(admin(fresh), [change])
    assert fresh.keys[token]["blocked"] is True
    usable = "1 of 2 usable" if in_file else "0 of 1 usable"  # kept: a new key was issued beside the old one
    assert usable in users.render_list(users.observe(admin(fresh)))


def test_block_now_then_apply_shows_the_unblock_it_would_do(fresh: FakeLiteLLMAdmin,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    wanted = people({"frank": {"tier": "test"}})
    sync(fresh, wanted)
    options = users._parser().parse_args(["--stack", "dev", "block", "frank"])
    users.run(options, admin(fresh), settings(), wanted, NOW)
    assert all(k["blocked"] for k in fresh.keys.values())
    assert "next apply unblocks them" in capsys.readouterr().out
    (change,) = users.plan(wanted, users.observe(admin(fresh)), NOW)
    assert change.action == "unblock"


def test_a_key_is_shown_the_moment_it_exists_even_if_a_later_call_fails(fresh: FakeLiteLLMAdmin) -> None:
    wanted = people({"ivan": {"tier": "test"}, "judy": {"tier": "test"}})
    fresh.users["placeholder"] = {"user_id": "placeholder", "metadata": {}}
    fresh.handle("POST", "/key/generate", {}, {"user_id": "placeholder", "key_alias": "judy/1"},
                 f"Bearer {fresh.master_key}")  # judy's first alias is taken elsewhere: her key will be refused
    shown: list[tuple[str, str]] = []
    with pytest.raises(AdminError, match="Unique key aliases"):
        users.apply(admin(fresh), users.plan(wanted, users.observe(admin(fresh)), NOW),
                    lambda user_id, key: shown.append((user_id, key)))
    assert [user for user, _ in shown] == ["ivan"] and shown[0][1].startswith("sk-")


def test_users_made_elsewhere_are_listed_but_left_alone(fresh: FakeLiteLLMAdmin) -> None:
    fresh.handle("POST", "/user/new", {}, {"user_id": "default_user_id", "user_role": "proxy_admin"},
                 f"Bearer {fresh.master_key}")
    changes = users.plan((), users.observe(admin(fresh)), NOW)
    assert changes == [] and users.unmanaged(users.observe(admin(fresh))) == ["default_user_id"]


def test_an_existing_person_is_adopted_with_the_files_settings(fresh: FakeLiteLLMAdmin) -> None:
    fresh.handle("POST", "/user/new", {}, {"user_id": "gina", "user_role": "internal_user", "max_budget": 100,
                                            "auto_create_key": False}, f"Bearer {fresh.master_key}")
    (change,) = users.plan(people({"gina": {"tier": "test"}}), users.observe(admin(fresh)), NOW)
    assert "role internal_user -> internal_user_viewer" in change.what
    assert "adopted (managed by tools.users from now on)" in change.what and "new key (none live)" in change.what


def test_every_person_is_seen_however_many_pages(fresh: FakeLiteLLMAdmin) -> None:
    crowd = people({f"person{i:03d}": {"tier": "test"} for i in range(230)})
    sync(fresh, crowd)
    seen = users.observe(admin(fresh))
    assert len(seen) == 230 and all(len(a.keys) == 1 for a in seen.values())
    assert sync(fresh, crowd) == ([], {})


def test_list_shows_spend_against_budget_and_the_reset(fresh: FakeLiteLLMAdmin) -> None:
    sync(fresh, people({"hana": {"tier": "developer"}, "root": {"tier": "admin"}}))
    fresh.charge("hana", 7.5)
    table = users.render_list(users.observe(admin(fresh))).splitlines()
    assert table[0].split() == ["person", "tier", "status", "spend", "/", "budget", "resets", "keys"]
    hana = next(line for line in table if line.startswith("hana"))
    assert "$7.50 / $10.00" in hana and "-01T00:00" in hana and "1 of 1 usable" in hana
    assert "$0.00 / unlimited" in next(line for line in table if line.startswith("root"))


def test_the_command_line_applies_the_stacks_file_and_prints_setups(
        fresh: FakeLiteLLMAdmin, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", fresh.master_key)
    assert users.main(["--stack", "dev", "--url", fresh.url, "diff"]) == 0
    diff = capsys.readouterr().out
    assert "+ create   alice@example.com" in diff and "= 0 unchanged" in diff and not fresh.users
    users.main(["--stack", "dev", "--url", fresh.url, "apply", "--gateway", "https://gw.example.com"])
    printed = capsys.readouterr().out
    assert "export ANTHROPIC_BASE_URL=https://gw.example.com" in printed and "ci-smoke-test" in printed
    users.main(["--stack", "dev", "--url", fresh.url, "diff"])
    assert capsys.readouterr().out.strip() == "= 3 unchanged"


# --- the requests are LiteLLM's ----------------------------------------------------------------------------------

def test_the_tool_calls_only_routes_litellm_serves_and_the_stand_in_serves_exactly_those() -> None:
    paths = litellm_openapi.document()["paths"]
    assert all(method.lower() in paths.get(path, {}) for method, path in ROUTES)
    stand_in = {(method.upper(), path) for path, operations in paths.items() for method in operations
                if hasattr(FakeLiteLLMAdmin, "_" + path.strip("/").replace("/", "_"))}
    assert stand_in == set(ROUTES)


def test_the_schema_check_catches_what_litellm_would_drop_or_refuse() -> None:
    (alice,) = people({"alice": {"tier": "developer"}})
    good = users.user_body(alice)
    assert litellm_openapi.problems("POST", "/user/update", {}, good) == []
    assert litellm_openapi.problems("POST", "/user/update", {}, {**good, "max_budget_usd": 5})
    assert litellm_openapi.problems("POST", "/user/new", {}, {**good, "user_role": "superuser"})
    assert litellm_openapi.problems("GET", "/key/list", {"size": "500"}, None)
    key = users.new_key(alice, (), NOW)
    assert litellm_openapi.problems(key.method, key.path, {}, key.body) == []
    assert litellm_openapi.problems("POST", "/key/generate", {}, {**key.body, "key_type": "everything"})


def test_a_person_of_each_tier_gets_a_body_litellm_accepts() -> None:
    for person in people({"a": {"tier": "admin"}, "d": {"tier": "developer"}, "t": {"tier": "test"}}):
        body = {**users.user_body(person), "auto_create_key": False}
        assert litellm_openapi.problems("POST", "/user/new", {}, body) == [], person.tier


def test_the_readmes_overshoot_bound_follows_from_the_prices() -> None:
    """The largest request of a model: a full 200k-token context in and the 64k-token output maximum, billed at the
    `us.` profile price (list + 10 %). LiteLLM 1.108.7 reserves each request's cost before admitting it, so a budget
    is overshot by about one such request, not by `maxParallelRequests` of them."""
    readme = documentation()
    cap = settings().budgets["developer"].max_parallel_requests
    for name in (SONNET, HAIKU):
        model = MODEL_CATALOG[name]
        largest = (200_000 * model.input_usd_per_mtok + 64_000 * model.output_usd_per_mtok) * 1.1 / 1e6
        assert f"${largest:.2f}" in readme and f"${cap * largest:.2f}" not in readme, name
    assert "budget_reservation.py" in readme


@pytest.mark.parametrize(("text", "says"), [
    ("people:\n  alice@example.com: {tier: test}\n  bob@example.com: {tier: test}\n"
     "  alice@example.com: {tier: admin}\n", "people.alice@example.com: given twice (lines 2 and 4)"),
    ("people:\n  Alice@example.com: {tier: test}\n  alice@example.com: {tier: admin}\n",
     "people.alice@example.com: the same person as Alice@example.com, in another case (lines 2 and 3)"),
    ("people:\n  carol@example.com:\n    tier: test\n    tier: admin\n",
     "people.carol@example.com.tier: given twice (lines 3 and 4)"),
])
def test_a_people_file_that_says_two_things_is_refused_naming_both_lines(tmp_path: Path, text: str,
                                                                        says: str) -> None:
    """yaml.safe_load keeps the last of two equal keys: a late line in a merge would quietly change a tier."""
    path = tmp_path / "dev.yaml"
    path.write_text(text)
    with pytest.raises(PeopleError) as refused:
        load_people(settings(), path)
    assert str(refused.value).startswith(f"{path}:") and says in str(refused.value)


def test_a_stacks_people_file_error_names_its_path_in_the_repository() -> None:
    with pytest.raises(PeopleError, match=r"^people/nobody\.yaml: no such file"):
        load_people(settings(), ROOT_DIR / "people" / "nobody.yaml")


def test_the_smoke_test_reads_a_persons_budget_and_names_what_differs(fresh: FakeLiteLLMAdmin) -> None:
    ci = people({"ci": {"tier": "test"}})
    under_test = smoke.PersonUnderTest(ci[0], "sk-any", admin(fresh))
    missing = smoke.budget_check(under_test)
    assert not missing.ok and "tools.users apply" in missing.got
    sync(fresh, ci)
    fresh.charge("ci", 0.25)
    held = smoke.budget_check(under_test)
    assert held.ok and held.got.startswith("spent $0.25 of $1.00/1mo, resets 20"), held
    moved = smoke.budget_check(smoke.PersonUnderTest(people({"ci": {"tier": "developer"}})[0], "sk-any",
                                                     admin(fresh)))
    assert not moved.ok and "tier test -> developer" in moved.got, moved
    nowhere = f"http://127.0.0.1:{free_port()}"
    closed = smoke.Target(url=nowhere, key="sk-any", models=(HAIKU,),
                          person=smoke.PersonUnderTest(ci[0], "sk-any", Admin(nowhere, "sk-master")))
    unanswered = smoke.person_checks(closed)
    assert len(unanswered) == 4 and not any(check.ok for check in unanswered[:2] + unanswered[3:]), unanswered
    assert "open the tunnel first" in unanswered[-1].got, "an unreachable admin API is a failed row, not a crash"


# Whether LiteLLM 1.108.7 really understands a budget_duration: a value and unit its parser knows, and a length
# in seconds (an unknown one silently resets at the next midnight instead: duration_parser.py).
DURATION_PROBE = """
import json, sys
from datetime import datetime, timezone
from litellm.litellm_core_utils import duration_parser as p
def understood(text):
    value, unit = p._parse_duration(p._normalize_duration(text))
    if value is None or unit not in ("s", "m", "h", "d", "w", "mo"):
        return False
    try:
        return p.duration_in_seconds(text) > 0 and p.get_next_standardized_reset_time(
            text, datetime.now(timezone.utc)) > datetime.now(timezone.utc)
    except Exception:
        return False
print(json.dumps({text: understood(text) for text in json.load(sys.stdin)}))
"""
PERIODS = ["1mo", "2mo", "12mo", "0mo", "30d", "7d", "1d", "0d", "999d", "1000d", "24h", "1h", "60m", "3600s", "1w",
           "52w", "0s", "mo", "1M", "1Mo", "1 d", "d1", "-1d", "1.5d", "1y", "1mon", "01d", "1d ", ""]


def test_every_budget_period_the_settings_accept_is_one_litellm_understands() -> None:
    """Generated periods, judged by both: a period the settings take must be one LiteLLM parses and resets on
    (an unknown one would reset every midnight, silently); the documented ones are accepted by both."""
    litellm = litellm_answer(DURATION_PROBE, PERIODS)
    ours = {text: re.fullmatch(BUDGET_PERIOD, text) is not None for text in PERIODS}
    assert [text for text in PERIODS if ours[text] and not litellm[text]] == []
    assert all(ours[p] and litellm[p] for p in ("1mo", "30d", "7d", "24h"))
    assert sum(ours.values()) >= 10


def test_a_new_key_skips_an_alias_already_taken(fresh: FakeLiteLLMAdmin) -> None:
    """Aliases are unique across the proxy: a person whose only key is their second (the first deleted elsewhere)
    gets the third, not a second second that LiteLLM refuses."""
    wanted = people({"ken": {"tier": "test"}})
    sync(fresh, wanted)
    (token,) = fresh.keys
    fresh.keys[token]["key_alias"] = "ken/2"
    (ken,) = wanted
    users.apply(admin(fresh), [users.rotation(ken, users.observe(admin(fresh))["ken"], NOW)])
    assert sorted(k["key_alias"] for k in fresh.keys.values()) == ["ken/2", "ken/3"]


def test_only_an_active_person_on_the_gateway_has_a_key_to_rotate(fresh: FakeLiteLLMAdmin) -> None:
    (lee,) = people({"lee": {"tier": "test"}})
    with pytest.raises(ValueError, match="lee: only an active person on the gateway"):
        users.rotation(lee, None, NOW)
    sync(fresh, (lee,))
    (blocked,) = people({"lee": {"tier": "test", "blocked": True}})
    with pytest.raises(ValueError, match="lee: only an active person on the gateway"):
        users.rotation(blocked, users.observe(admin(fresh))["lee"], NOW)


def test_the_command_line_rotates_a_persons_key(fresh: FakeLiteLLMAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    wanted = people({"mia": {"tier": "test"}})
    sync(fresh, wanted)
    options = users._parser().parse_args(["--stack", "dev", "rotate", "mia"])
    assert users.run(options, admin(fresh), settings(), wanted, NOW) == 0
    keys = {k["key_alias"]: k for k in fresh.keys.values()}
    assert keys["mia/1"]["blocked"] and not keys["mia/2"]["blocked"]
