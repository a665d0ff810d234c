"""The edge function, run in the real `node` exactly as planned: the internet reaches the inference API and nothing
else; listed addresses reach the admin plane and Grafana. Every behaviour runs it before the origin sees anything."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from offline.engine import Graph
from tests.routes import ADMIN_PLANE, INFERENCE
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
const answers = input.cases.map(([ip, target]) => {
  // As CloudFront hands it over: the path in `uri`, the query string parsed apart.
  const [uri, query] = target.split('?');
  const querystring = {};
  for (const pair of (query || '').split('&').filter(Boolean)) {
    const [name, value] = pair.split('=');
    querystring[name] = {value: value || ''};
  }
  const result = handler({version: '1.0', context: {eventType: 'viewer-request'}, viewer: {ip: ip},
                          request: {method: 'GET', uri: uri, querystring: querystring, headers: {}, cookies: {}}});
  return result.statusCode ? result.statusCode : 'origin';
});
process.stdout.write(JSON.stringify(answers));
"""


@pytest.fixture(scope="module")
def guarded() -> Graph:
    return run_with("dev", edge={"adminCidrs": [ADMIN_V4, ADMIN_V6], "grafanaCidrs": [GRAFANA_ONLY]})


def edge_code(graph: Graph) -> str:
    return graph.one("aws:cloudfront/function:Function").inputs["code"]


def answers(code: str, cases: list[tuple[str, str]]) -> dict[tuple[str, str], str | int]:
    node = shutil.which("node")
    assert node, "node is needed (CloudFront Functions are JavaScript)"
    result = subprocess.run([node, "-e", RUNNER], input=json.dumps({"code": code, "cases": cases}),
                            capture_output=True, text=True, timeout=30, check=True)
    return dict(zip(cases, json.loads(result.stdout), strict=True))


def with_query(paths: list[str]) -> list[str]:
    """Query strings (CloudFront passes them apart from the path) never open a path."""
    return paths + [f"{p}?key=value&x=%2Fkey%2Fgenerate" for p in paths[:5]]


def test_the_internet_reaches_the_inference_api_and_nothing_else(guarded: Graph) -> None:
    cases = [(ip, path) for ip in OUTSIDERS for path in with_query(INFERENCE + ADMIN_PLANE)]
    results = answers(edge_code(guarded), cases)
    leaked = [case for case, answer in results.items() if case[1].split("?")[0] in ADMIN_PLANE and answer != 403]
    blocked = [case for case, answer in results.items() if case[1].split("?")[0] in INFERENCE
               and answer != "origin"]
    assert len(set(ADMIN_PLANE)) >= 30 and not leaked and not blocked


def test_admin_addresses_reach_everything(guarded: Graph) -> None:
    cases = [(ip, path) for ip in ADMIN_VIEWERS for path in INFERENCE + ADMIN_PLANE]
    assert set(answers(edge_code(guarded), cases).values()) == {"origin"}


def test_grafana_addresses_reach_grafana_and_the_api_only(guarded: Graph) -> None:
    results = answers(edge_code(guarded), [(GRAFANA_VIEWER, p) for p in GRAFANA + INFERENCE + ADMIN_PLANE[:20]])
    assert {p: a for (_, p), a in results.items() if a == "origin"}.keys() == set(GRAFANA + INFERENCE)


def test_closed_by_default(dev: Graph) -> None:
    """Empty lists (every stack's default): the admin plane and Grafana answer 403 to every address."""
    results = answers(edge_code(dev), [(ip, p) for ip in ADMIN_VIEWERS + OUTSIDERS for p in GRAFANA + ADMIN_PLANE])
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
