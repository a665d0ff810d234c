"""The edge function's own mechanics, as planned and run in the real `node`, against Python's oracles on generated
inputs (Hypothesis): address ranges against `ipaddress` (IPv4 and IPv6 in any notation, prefixes not on a byte
boundary), paths against a reference of what the origin would route differently, and the public list against
public_api.is_public. Each example is a batch, so node starts a few times, not per case."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import urllib.parse
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from catalog import MODEL_CATALOG
from components.edge.public_api import PUBLIC_ROUTES, is_public
from offline.engine import Graph
from tests.test_edge_function import edge_code

RUNNER = """
const fs = require('fs');
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const f = new Function(input.code + '\\n; return {address, inRange, routedPath, isPublic};')();
const out = input.cases.map(([kind, a, b]) =>
  kind === 'range' ? f.inRange(f.address(a), b) : kind === 'path' ? f.routedPath(a) : f.isPublic(a, b));
process.stdout.write(JSON.stringify(out));
"""
# A few large batches, the same on every run (derandomized: the suite's verdict never depends on a seed), not
# shrunk on failure (the assertion already lists every case where node and the oracle disagree).
BATCH = settings(max_examples=3, derandomize=True, database=None, deadline=None,
                 phases=[Phase.explicit, Phase.reuse, Phase.generate],
                 suppress_health_check=list(HealthCheck))
CLIENT_NAMES = [alias for model in MODEL_CATALOG.values() for alias in model.client_names]


def run_in_node(code: str, cases: list[list[Any]]) -> list[Any]:
    node = shutil.which("node")
    assert node, "node is needed (CloudFront Functions are JavaScript)"
    done = subprocess.run([node, "-e", RUNNER], input=json.dumps({"code": code, "cases": cases}), capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def _text(address: ipaddress.IPv4Address | ipaddress.IPv6Address, style: int) -> str:
    """An address as a viewer or a setting may write it: IPv6 compressed or not, in either case."""
    if address.version == 4:
        return str(address)
    text = address.exploded if style % 2 else address.compressed
    return text.upper() if style % 3 == 0 else text


@st.composite
def range_case(draw: st.DrawFn) -> list[Any]:
    version = draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    prefix = draw(st.integers(min_value=1, max_value=bits))
    raw = draw(st.integers(min_value=0, max_value=2**bits - 1))
    network = ipaddress.ip_network((raw, prefix), strict=False)
    # Near the network (inside, at its ends, just outside) or anywhere.
    offset = draw(st.sampled_from([0, network.num_addresses - 1, network.num_addresses, -1])) if draw(
        st.booleans()) else draw(st.integers(min_value=-(2**bits), max_value=2**bits))
    value = (int(network.network_address) + offset) % 2**bits
    address = ipaddress.ip_address(value) if version == 6 else ipaddress.IPv4Address(value)
    style = draw(st.integers(min_value=0, max_value=5))
    cidr = f"{_text(network.network_address, style + 1)}/{prefix}"
    return ["range", _text(address, style), cidr, address in network]


SEGMENT = st.sampled_from(["v1", "chat", "completions", "models", "key", "generate", ".", "..", "", ".well-known",
                           "%2e", "%2E%2e", "a\\b", "%5c", "%00", "x%2Fy", "%7e", "caf%C3%A9", "\t"])


@st.composite
def path_case(draw: st.DrawFn) -> list[Any]:
    uri = "/" + "/".join(draw(st.lists(SEGMENT, min_size=1, max_size=5)))
    return ["path", uri, None, reference_route(uri)]


def reference_route(uri: str) -> str | None:
    """What the function must hand on: the decoded path, unless it holds something an origin may resolve
    differently (a segment starting with a dot, an empty segment, a backslash, a control character)."""
    try:
        path = urllib.parse.unquote(uri, errors="strict")
    except UnicodeDecodeError:
        return None
    segments = path.split("/")[1:]
    if any(s.startswith(".") for s in segments) or "" in segments[:-1] or path.endswith("//") or "\\" in path or \
            re.search(r"[\x00-\x1f\x7f]", path):
        return None
    return path


@st.composite
def public_case(draw: st.DrawFn) -> list[Any]:
    method, template = draw(st.sampled_from(PUBLIC_ROUTES))
    path = template.replace("{model}", draw(st.sampled_from([*CLIENT_NAMES, "gpt-4o", "claude-opus-4-1"]))).replace(
        "{response}", draw(st.sampled_from(["resp_abc123", "resp_QUJD+/=", "compact", "input_tokens"])))
    change = draw(st.sampled_from(["none", "upper", "suffix", "prefix", "method"]))
    if change == "upper":
        path = path.upper()
    elif change == "suffix":
        path += draw(st.sampled_from(["/", "x", "/extra", ":generateContent"]))
    elif change == "prefix":
        path = draw(st.sampled_from(["/api", "/V1", "/v2"])) + path
    elif change == "method":
        method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    return ["public", method, path, is_public(method, path, CLIENT_NAMES)]


def judged(code: str, cases: list[list[Any]]) -> list[tuple[list[Any], Any]]:
    """The cases where node and the oracle disagree."""
    answers = run_in_node(code, [case[:3] for case in cases])
    return [(case, got) for case, got in zip(cases, answers, strict=True) if got != case[3]]


@BATCH
@given(cases=st.lists(range_case(), min_size=500, max_size=500))
def test_address_ranges_match_ipaddress(dev: Graph, cases: list[list[Any]]) -> None:
    assert judged(edge_code(dev), cases) == []


@BATCH
@given(cases=st.lists(path_case(), min_size=500, max_size=500))
def test_paths_an_origin_could_read_otherwise_are_refused(dev: Graph, cases: list[list[Any]]) -> None:
    assert judged(edge_code(dev), cases) == []


@BATCH
@given(cases=st.lists(public_case(), min_size=500, max_size=500))
def test_the_public_list_matches_python_exactly(dev: Graph, cases: list[list[Any]]) -> None:
    assert judged(edge_code(dev), cases) == []
