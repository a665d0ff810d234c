"""After a deploy: does the gateway do what its users rely on? One row per check, exit 1 if any fails.

    python -m tools.smoke --stack dev          # URL and key from the stack's outputs and Secrets Manager

Checks: no key -> 401; /v1/models lists exactly the stack's models; a tiny call to the cheapest model through the
OpenAI API and one through the Anthropic Messages API, streamed; the admin API from outside -> 403; /metrics not
served; Grafana under /grafana/ (its login page from an address in `edge.grafanaCidrs` with --grafana-viewer, else
403 at the edge); in public-alb mode, the ALB refuses a request without CloudFront's origin header. Run it from
outside `edge.adminCidrs` (an admin address is let through to the admin API).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offline.engine import stack_settings
from offline.text import aligned
from settings import MODEL_CATALOG, Settings
from tools.cli import command_output, run_tool
from tools.http import Answer, fetch

PROMPT = [{"role": "user", "content": "Answer with one word: ok"}]


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


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    expected: str
    got: str


def cheapest(models: tuple[str, ...]) -> str:
    return min(models, key=lambda m: MODEL_CATALOG[m].input_usd_per_mtok + MODEL_CATALOG[m].output_usd_per_mtok)


def _status(name: str, answer: Answer, expected: tuple[int, ...]) -> Check:
    return Check(name, answer.status in expected, " or ".join(map(str, expected)), str(answer.status))


def _listed_models(target: Target, auth: dict[str, str]) -> Check:
    answer = fetch(f"{target.url}/v1/models", headers=auth)
    listed = sorted(m["id"] for m in answer.json()["data"]) if answer.status == 200 else []
    return Check("/v1/models lists the stack's models", listed == sorted(target.models),
                 ", ".join(sorted(target.models)), ", ".join(listed) or f"HTTP {answer.status}")


def _openai_call(target: Target, auth: dict[str, str]) -> Check:
    model = cheapest(target.models)
    answer = fetch(f"{target.url}/v1/chat/completions", {"model": model, "max_tokens": 8, "messages": PROMPT},
                   auth)
    text = answer.json()["choices"][0]["message"]["content"] if answer.status == 200 else ""
    return Check(f"OpenAI chat completion ({model})", answer.status == 200 and bool(text), "200 with text",
                 f"{answer.status} {text[:40]!r}" if text else f"HTTP {answer.status} {answer.body[:80]!r}")


def _anthropic_stream(target: Target, auth: dict[str, str]) -> Check:
    model = cheapest(target.models)
    answer = fetch(f"{target.url}/v1/messages", {"model": model, "max_tokens": 8, "stream": True,
                                                 "messages": PROMPT},
                   {**auth, "anthropic-version": "2023-06-01"})
    events = [line.removeprefix(b"event:").strip().decode() for line in answer.body.splitlines()
              if line.startswith(b"event:")]
    complete = answer.status == 200 and events[:1] == ["message_start"] and events[-1:] == ["message_stop"]
    return Check(f"Anthropic Messages, streamed ({model})", complete, "200, message_start ... message_stop",
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
        ("/v1/models", lambda: _listed_models(target, auth)),
        ("OpenAI chat completion", lambda: _openai_call(target, auth)),
        ("Anthropic Messages, streamed", lambda: _anthropic_stream(target, auth)),
        ("admin API closed from outside", lambda: _status(
            "admin API closed from outside", fetch(f"{target.url}/key/list", headers=auth), (403,))),
        ("/metrics not served", lambda: _status("/metrics not served", fetch(f"{target.url}/metrics"), (403, 404))),
        ("Grafana", lambda: _grafana(target)),
        (ORIGIN_CHECK, lambda: _origin(target)),
    ]
    return [_guarded(name, step) for name, step in steps]


def _guarded(name: str, step: Callable[[], Check]) -> Check:
    """A check that cannot even ask (DNS, TLS, timeout, a malformed answer) fails with the reason."""
    try:
        return step()
    except (OSError, ValueError, KeyError, IndexError) as error:
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


def target_of(settings: Settings, outputs: dict[str, Any], key: str | None = None,
              grafana_viewer: bool = False) -> Target:
    """The deployed settings' models and edge, the URL and ALB from the outputs; the master key from Secrets
    Manager unless given."""
    key = key or _aws("secretsmanager", "get-secret-value", "--secret-id", outputs["litellmMasterKeySecretArn"],
                      "--query", "SecretString", "--output", "text", "--region", settings.region)
    origin = outputs.get("originUrl")
    return Target(url=outputs["gatewayUrl"].rstrip("/"), key=key, models=settings.models,
                  origin_url=origin if settings.edge.origin_mode == "public-alb" else None,
                  grafana_viewer=grafana_viewer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--key", help="an API key (default: the stack's master key from Secrets Manager)")
    parser.add_argument("--grafana-viewer", action="store_true",
                        help="this address is in edge.grafanaCidrs: expect Grafana's login page, not 403")
    options = parser.parse_args(argv)
    outputs = json.loads(command_output(["pulumi", "stack", "output", "--json", "--show-secrets", "-s", options.stack],
                                        "to read the stack's outputs"))
    settings = stack_settings(options.stack)
    return run(target_of(settings, outputs, options.key, options.grafana_viewer))


if __name__ == "__main__":
    sys.exit(run_tool(main))
