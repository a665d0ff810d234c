"""The edge function, run in the real `node` exactly as planned: the internet reaches the inference API and nothing
else; listed addresses reach the admin plane and Grafana. Every behaviour runs it before the origin sees anything."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from components.edge.public_api import markdown_table
from offline.engine import ROOT_DIR, Graph
from tests.docs import documentation
from tests.routes import ADMIN_PLANE, INFERENCE, WRONG_SHAPES
from tests.stacks import run_with

ADMIN_V4, ADMIN_V6, GRAFANA_ONLY = "203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"
ADMIN_VIEWERS = ["203.0.113.9", "2001:db8:0:1::42"]
GRAFANA_VIEWER = "198.51.100.7"
OUTSIDERS = ["192.0.2.1", "203.0.114.1", "2001:db9::1", "198.51.100.8", "::ffff:203.0.113.9"]

GRAFANA = ["/grafana", "/grafana/", "/grafana/login", "/grafana/api/ds/query", "/grafana/public/build/app.js"]

RUNNER = """
const fs = require('fs');
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const handler = new Function(input.code + '\\n; return handler;')();
const answers = input.cases.map(([ip, method, target]) => {
  // As CloudFront hands it over: the path in `uri`, the query string parsed apart.
  const [uri, query] = target.split('?');
  const querystring = {};
  for (const pair of (query || '').split('&').filter(Boolean)) {
    const [name, value] = pair.split('=');
    querystring[name] = {value: value || ''};
  }
  const result = handler({version: '1.0', context: {eventType: 'viewer-request'}, viewer: {ip: ip},
                          request: {method: method, uri: uri, querystring: querystring, headers: {}, cookies: {}}});
  return result.statusCode ? result.statusCode : 'origin';
});
process.stdout.write(JSON.stringify(answers));
"""


@pytest.fixture(scope="module")
def guarded() -> Graph:
    return run_with("dev", edge={"adminCidrs": [ADMIN_V4, ADMIN_V6], "grafanaCidrs": [GRAFANA_ONLY]})


def edge_code(graph: Graph) -> str:
    return graph.one("aws:cloudfront/function:Function").inputs["code"]


Case = tuple[str, str, str]  # (viewer address, method, path with its query string)


def answers(code: str, cases: list[Case]) -> dict[Case, str | int]:
    node = shutil.which("node")
    assert node, "node is needed (CloudFront Functions are JavaScript)"
    result = subprocess.run([node, "-e", RUNNER], input=json.dumps({"code": code, "cases": cases}),
                            capture_output=True, text=True, timeout=30, check=True)
    return dict(zip(cases, json.loads(result.stdout), strict=True))


def with_query(routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Query strings (CloudFront passes them apart from the path) never open a path."""
    return routes + [(method, f"{path}?key=value&x=%2Fkey%2Fgenerate") for method, path in routes[:5]]


def admin_plane() -> list[tuple[str, str]]:
    return [(method, path) for path in ADMIN_PLANE for method in ("GET", "POST")]


def test_the_internet_reaches_the_inference_api_and_nothing_else(guarded: Graph) -> None:
    cases = [(ip, method, path) for ip in OUTSIDERS
             for method, path in with_query(INFERENCE + WRONG_SHAPES + admin_plane())]
    results = answers(edge_code(guarded), cases)
    public = set(INFERENCE)
    leaked = [case for case, answer in results.items() if (case[1], case[2].split("?")[0]) not in public
              and answer != 403]
    blocked = [case for case, answer in results.items() if (case[1], case[2].split("?")[0]) in public
               and answer != "origin"]
    assert len(set(ADMIN_PLANE)) >= 30 and len(WRONG_SHAPES) >= 20 and not leaked and not blocked


def test_admin_addresses_reach_everything(guarded: Graph) -> None:
    cases = [(ip, method, path) for ip in ADMIN_VIEWERS for method, path in INFERENCE + WRONG_SHAPES + admin_plane()]
    assert set(answers(edge_code(guarded), cases).values()) == {"origin"}


def test_grafana_addresses_reach_grafana_and_the_api_only(guarded: Graph) -> None:
    routes = [("GET", p) for p in GRAFANA] + INFERENCE + WRONG_SHAPES + admin_plane()[:40]
    results = answers(edge_code(guarded), [(GRAFANA_VIEWER, method, path) for method, path in routes])
    assert {(m, p) for (_, m, p), a in results.items() if a == "origin"} == {("GET", p) for p in GRAFANA} | set(
        INFERENCE)


def test_closed_by_default(dev: Graph) -> None:
    """Empty lists (every stack's default): the admin plane and Grafana answer 403 to every address."""
    routes = [("GET", p) for p in GRAFANA] + admin_plane() + WRONG_SHAPES
    results = answers(edge_code(dev), [(ip, m, p) for ip in ADMIN_VIEWERS + OUTSIDERS for m, p in routes])
    assert set(results.values()) == {403}


def test_every_behaviour_runs_the_function_before_the_origin(stack: Graph) -> None:
    function = stack.one("aws:cloudfront/function:Function")
    assert function.inputs["runtime"] == "cloudfront-js-2.0" and function.inputs["publish"] is True
    assert len(edge_code(stack).encode()) <= 10 * 1024, "CloudFront Functions: 10 KB of code at most"
    distribution = stack.one("aws:cloudfront/distribution:Distribution").inputs
    behaviours = [distribution["defaultCacheBehavior"], *distribution["orderedCacheBehaviors"]]
    for behaviour in behaviours:
        assert behaviour["functionAssociations"] == [
            {"eventType": "viewer-request", "functionArn": function.outputs["arn"]}], behaviour.get("pathPattern")


def test_every_answer_carries_hsts_and_nosniff(stack: Graph) -> None:
    """Viewers are redirected to HTTPS; HSTS keeps browsers from trying HTTP again (a year at least, as browsers'
    preload lists ask), pinned to this name only."""
    policy = stack.one("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy")
    headers = policy.inputs["securityHeadersConfig"]
    hsts = headers["strictTransportSecurity"]
    assert hsts["accessControlMaxAgeSec"] >= 365 * 24 * 3600 and hsts["override"] is True
    promised = (ROOT_DIR / "docs" / "security.md").read_text()
    assert "HSTS (two years" in promised and hsts["accessControlMaxAgeSec"] == 2 * 365 * 24 * 3600, "as documented"
    assert hsts["includeSubdomains"] is False and headers["contentTypeOptions"]["override"] is True
    distribution = stack.one("aws:cloudfront/distribution:Distribution").inputs
    for behaviour in [distribution["defaultCacheBehavior"], *distribution["orderedCacheBehaviors"]]:
        assert behaviour["responseHeadersPolicyId"] == stack.id_of(policy), behaviour.get("pathPattern")


def test_the_readme_publishes_what_the_edge_lets_through() -> None:
    assert markdown_table() in documentation()
