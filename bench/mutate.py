"""`make mutate`: how many plausible bugs the suite kills. Each mutation is one mistake a developer could make (a
threshold in the wrong unit, a comparison off by one, a check dropped, a list widened). Two sources:

- the catalogue below, written by hand, each with the test modules that should notice;
- mutants generated from the syntax tree of each package (bench/mutants.py), a fixed sample per package, each run
  against the test modules that execute its line (bench/coverage_map.py; each module alone under coverage).

Each is applied to a copy of the committed tree and counts as killed when its tests fail (or hang).

    .venv/bin/python -m bench.mutate                         # the catalogue and every package
    .venv/bin/python -m bench.mutate --only alarm            # catalogue entries whose name contains "alarm"
    .venv/bin/python -m bench.mutate --package tools --sample 50

Tens of minutes: not part of `make test` (tests/test_mutations.py checks that the catalogue still applies and that
every package yields mutants). The last result is in .build/mutate-last.json and summarised in docs/testing.md.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench import coverage_map
from bench.mutants import Mutant, mutants_of

ROOT_DIR = Path(__file__).resolve().parent.parent
SHARED = (".venv", ".venv-litellm", "node_modules")
BUILD = ROOT_DIR / ".build"
PACKAGES = {"components": ("components",), "policies": ("policies",),
            "settings": ("settings.py", "catalog.py", "aws_limits.py", "people_file.py"), "tools": ("tools",),
            "images/litellm": ("images/litellm",)}
SAMPLE_PER_PACKAGE = 12
# Code the tests also run in another process, where coverage does not see it: the LiteLLM image's files run inside
# the real proxy, so each test module that starts it (or names the file) counts as running every line.
RUN_OUTSIDE_THE_TESTS = {"images/litellm/": "litellm_proxy("}
HANG_SECONDS = 900


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]

    def apply(self, text: str) -> str:
        if text.count(self.old) != 1:
            raise ValueError(f"{self.name}: the text to mutate is not in {self.path} exactly once")
        return text.replace(self.old, self.new)


class AnyMutation(Protocol):
    name: str
    path: str

    def apply(self, text: str) -> str: ...


@dataclass(frozen=True)
class Verdict:
    name: str
    group: str
    killed: bool
    how: str


def _m(name: str, path: str, old: str, new: str, *tests: str) -> Mutation:
    return Mutation(name, path, old, new, tuple(f"tests/{t}.py" for t in tests))


MUTATIONS = (
    # Alarm values and semantics.
    _m("alarm-storage-in-mib", "components/alarms.py", "threshold=2 * 1024**3", "threshold=2 * 1024**2",
       "test_alarm_semantics", "test_alarms"),
    _m("alarm-alb-5xx-100x", "components/alarms.py",
       'threshold=10, periods=1, period=FIVE_MINUTES, missing="notBreaching"),',
       'threshold=1000, periods=1, period=FIVE_MINUTES, missing="notBreaching"),', "test_alarm_semantics",
       "test_alarms"),
    _m("alarm-probe-needs-two-errors", "components/alarms.py",
       'comparison="GreaterThanOrEqualToThreshold", threshold=1', 'comparison="GreaterThanThreshold", threshold=1',
       "test_alarm_semantics", "test_alarms"),
    _m("alarm-db-cpu-missing-is-fine", "components/alarms.py",
       'comparison="GreaterThanThreshold", threshold=80, period=FIVE_MINUTES, missing="breaching"',
       'comparison="GreaterThanThreshold", threshold=80, period=FIVE_MINUTES, missing="notBreaching"',
       "test_alarm_semantics", "test_alarms"),
    _m("alarm-db-errors-one-period", "components/alarms.py",
       'comparison="GreaterThanThreshold", threshold=0, periods=2, period=FIVE_MINUTES, missing="notBreaching"),\n'
       '        *([_Alarm(key="cache-errors"',
       'comparison="GreaterThanThreshold", threshold=0, periods=1, period=FIVE_MINUTES, missing="notBreaching"),\n'
       '        *([_Alarm(key="cache-errors"', "test_alarm_semantics", "test_alarms"),
    _m("alarm-cache-pattern-first-errors-only", "components/alarms.py",
       """CACHE_ERROR_PATTERN = '?"Got exception from REDIS" ?"Redis circuit breaker OPENED"'""",
       """CACHE_ERROR_PATTERN = '"Got exception from REDIS"'""", "test_cache"),
    # Validators.
    _m("settings-everyone-is-a-viewer-list", "settings.py", "if any(n.prefixlen == 0 for n in networks):",
       "if any(n.prefixlen < 0 for n in networks):", "test_settings"),
    _m("settings-capacity-10x", "settings.py", "TURNS_PER_VCPU_PER_SECOND = 11", "TURNS_PER_VCPU_PER_SECOND = 110",
       "test_services", "test_settings"),
    _m("settings-restore-identifier-trailing-hyphen", "settings.py", 'or "--" in value or value.endswith("-")',
       'or "--" in value', "test_restore", "test_settings"),
    _m("settings-any-period", "settings.py", r'BUDGET_PERIOD = r"^(1mo|[1-9]\d{0,2}[smhdw])$"',
       r'BUDGET_PERIOD = r"^(\d+mo|\d{1,4}[smhdwy])$"', "test_people", "test_settings"),
    _m("settings-vpc-up-to-a-slash-8", "settings.py", "if not 16 <= network.prefixlen <= 24:",
       "if not 8 <= network.prefixlen <= 24:", "test_settings_properties", "test_settings"),
    _m("settings-reserved-prefix-case-sensitive", "settings.py", 'if key.lower().startswith("aws:"):',
       'if key.startswith("aws:"):', "test_settings_properties", "test_settings"),
    # The edge function and the public API.
    _m("edge-dot-segments-allowed", "components/edge/viewer_request.js",
       r"if (/\/\.|\/\/|\\|[\x00-\x1f\x7f]/.test(path)) return null;",
       r"if (/\/\/|\\|[\x00-\x1f\x7f]/.test(path)) return null;", "test_edge_properties", "test_edge_function"),
    _m("edge-ipv6-upper-hex-refused", "components/edge/viewer_request.js", "if (!/^[0-9a-fA-F]{1,4}$/.test(",
       "if (!/^[0-9a-f]{1,4}$/.test(", "test_edge_properties", "test_edge_function"),
    _m("edge-mask-from-the-wrong-end", "components/edge/viewer_request.js",
       "var mask = ((1 << take) - 1) << (net.bits - take);", "var mask = (1 << take) - 1;",
       "test_edge_properties", "test_edge_function"),
    _m("public-api-key-info", "components/edge/public_api.py", '("POST", "/api/event_logging/batch"),',
       '("POST", "/api/event_logging/batch"), ("GET", "/key/info"),', "test_edge", "test_litellm_routes"),
    # Policy thresholds.
    _m("policy-world-is-a-sixteenth", "policies/common.py", "WORLD_SHARE = {4: 2.0 ** -8, 6: 2.0 ** -32}",
       "WORLD_SHARE = {4: 2.0 ** -4, 6: 2.0 ** -32}", "test_policy_probes", "test_policies"),
    _m("policy-tls-1-0-is-current", "policies/hardening.py", 'CURRENT_VIEWER_TLS = ("TLSv1.2_2019",',
       'CURRENT_VIEWER_TLS = ("TLSv1", "TLSv1.2_2019",', "test_policy_probes", "test_policies"),
    _m("policy-unset-at-rest-is-encrypted", "policies/hardening.py",
       'return written if written is not None else str(props.get("engine") or "redis").lower() == "valkey"',
       "return written is not False", "test_policy_probes", "test_policies"),
    _m("policy-profiles-in-any-region", "policies/identity.py",
       'elif match["kind"] == "inference-profile" and match["region"] in ("", "*"):',
       'elif match["kind"] == "inference-profile" and match["region"] == "never":', "test_policy_probes",
       "test_policies"),
    # Runtime details.
    _m("runtime-health-matcher-widened", "components/alb.py", '"matcher": "200"', '"matcher": "200-499"',
       "test_services", "test_edge"),
    _m("runtime-origin-tls-1-0", "components/cdn.py", '"origin_ssl_protocols": ["TLSv1.2"]',
       '"origin_ssl_protocols": ["TLSv1", "TLSv1.2"]', "test_edge"),
    _m("runtime-metrics-volume-read-only", "components/fargate_service.py", '"readOnly": False}]',
       '"readOnly": True}]', "test_services"),
    _m("runtime-trust-without-source-account", "components/iam.py",
       'statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}', "pass",
       "test_services", "test_runtime_contracts"),
    _m("runtime-s3-endpoint-interface", "components/network.py", 'vpc_endpoint_type="Gateway"',
       'vpc_endpoint_type="Interface"', "test_network", "test_vpc_twin"),
    _m("runtime-waf-counts", "components/waf.py", '"action": {"block": {}}', '"action": {"count": {}}',
       "test_edge"),
    _m("runtime-litellm-keeps-unsupported-params", "images/litellm/config.base.yaml", "drop_params: true",
       "drop_params: false", "test_images", "test_services"),
    _m("runtime-litellm-takes-forwarded-for-as-sent", "images/litellm/config.base.yaml",
       '  trusted_proxy_ranges: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]',
       '  trusted_proxy_ranges: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]\n  use_x_forwarded_for: true',
       "test_images"),
    _m("runtime-litellm-trusts-every-proxy", "images/litellm/config.base.yaml",
       'trusted_proxy_ranges: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]', 'trusted_proxy_ranges: ["0.0.0.0/0"]',
       "test_images"),
    _m("cost-turns-on-the-cheapest-model", "offline/cost.py",
       'model = max(models, key=lambda m: prices_by_model[m]["output_per_mtok"])',
       'model = min(models, key=lambda m: prices_by_model[m]["output_per_mtok"])', "test_cost"),
    # Grafana rule semantics.
    _m("grafana-p95-is-p50", "components/grafana_alerts.py", "histogram_quantile(0.95,", "histogram_quantile(0.5,",
       "test_alert_rule_semantics", "test_alerting"),
    _m("grafana-throttling-counts-every-4xx", "components/grafana_alerts.py",
       """_failures_in_5m(BEDROCK_FAILURES, '="429"', by="model_group")""",
       """_failures_in_5m(BEDROCK_FAILURES, '=~"4.."', by="model_group")""", "test_alert_rule_semantics",
       "test_alerting"),
    _m("grafana-query-errors-are-fine", "components/grafana_alerts.py", '"execErrState": "Alerting"',
       '"execErrState": "OK"', "test_alert_rule_semantics", "test_alerting"),
    # Written after the tests above, to see whether the net holds for bugs nobody aimed a test at.
    _m("fresh-body-limit-10x", "images/litellm/request_gate.py", "MAX_BODY_BYTES = 32 * 1000 * 1000",
       "MAX_BODY_BYTES = 320 * 1000 * 1000", "test_request_gate", "test_images"),
    _m("fresh-backups-may-be-off", "settings.py", "backup_retention_days: int = Field(7, ge=1, le=35,",
       "backup_retention_days: int = Field(7, ge=0, le=35,", "test_settings", "test_services"),
    _m("fresh-nat-down-never-fires", "components/alarms.py",
       'comparison="LessThanThreshold", threshold=1, missing="breaching"),',
       'comparison="LessThanThreshold", threshold=0, missing="breaching"),', "test_alarm_semantics", "test_alarms"),
    _m("fresh-viewers-in-plain-http", "components/cdn.py", '"viewer_protocol_policy": "redirect-to-https"',
       '"viewer_protocol_policy": "allow-all"', "test_edge", "test_policies"),
    _m("fresh-failed-deploys-stay", "components/fargate_service.py", '{"enable": True, "rollback": True}',
       '{"enable": True, "rollback": False}', "test_services", "test_lifecycle"),
    _m("fresh-database-unencrypted", "components/database.py", 'storage_type="gp3", storage_encrypted=True,',
       'storage_type="gp3", storage_encrypted=False,', "test_services", "test_policies"),
    _m("fresh-prod-secrets-deleted-in-a-week", "components/gateway.py", "recovery_window_days=30 if protected else 7",
       "recovery_window_days=7", "test_services", "test_lifecycle"),
    _m("fresh-https-only-means-any-range-with-443", "policies/common.py",
       'return self.protocol == "tcp" and self.from_port == self.to_port == 443',
       'return self.protocol == "tcp" and self.from_port <= 443 <= self.to_port', "test_policy_probes",
       "test_policies"),
    # Egress by name (written with its tests).
    _m("egress-fails-open", "components/egress_controls.py", 'firewall_fail_open="DISABLED"',
       'firewall_fail_open="ENABLED"', "test_egress"),
    _m("egress-inspects-every-cname", "components/egress_controls.py", '"TRUST_REDIRECTION_DOMAIN"',
       '"INSPECT_REDIRECTION_DOMAIN"', "test_egress"),
    _m("egress-any-rds-name-anywhere", "components/egress_controls.py", 'f"*.{region}.rds.amazonaws.com"',
       '"*.amazonaws.com"', "test_egress"),
    _m("egress-endpoint-private-dns-off", "components/egress_controls.py", "private_dns_enabled=True",
       "private_dns_enabled=False", "test_egress", "test_vpc_twin"),
    _m("egress-endpoint-any-account", "components/egress_controls.py",
       'condition["StringEquals"] = {**condition.get("StringEquals", {}), "aws:PrincipalAccount": account_id}',
       'condition["StringLike"] = {"aws:PrincipalAccount": "*"}',
       "test_egress"),
    _m("egress-policy-alert-blocks", "policies/dns_firewall.py", 'rule.props.get("action") == "BLOCK" and',
       'rule.props.get("action") in ("BLOCK", "ALERT") and', "test_policy_probes"),
    _m("egress-policy-any-wildcard-reviewed", "policies/dns_firewall.py",
       'REVIEWED_WILDCARD_SUFFIXES = (".internal",', 'REVIEWED_WILDCARD_SUFFIXES = (".com", ".internal",',
       "test_policy_probes"),
    # The rest of the outside run's named examples (issue 26), written after their tests.
    _m("edge-inference-pattern-any-case", "components/edge/viewer_request.js", "new RegExp(route[1])",
       'new RegExp(route[1], "i")', "test_edge_function", "test_edge_properties"),
    _m("grafana-no-scrape-is-fine", "components/grafana_alerts.py", '''"lt", "1", "5m",
              "Alerting", "VictoriaMetrics gets nothing''', '''"lt", "1", "5m",
              "OK", "VictoriaMetrics gets nothing''', "test_alert_rule_semantics", "test_alerting"),
    _m("runtime-litellm-ui-sign-in-with-master-key", "images/litellm/config.base.yaml",
       "disable_env_credential_login: true", "disable_env_credential_login: false", "test_images"),
    _m("runtime-litellm-openapi-open", "components/gateway.py", '"NO_OPENAPI": "True", ', "", "test_images",
       "test_services"),
    _m("runtime-nat-tag-shared-by-stacks", "components/network.py",
       'tag_value = stack_unique(f"{self._name}-nat")', 'tag_value = f"{self._name}-nat"', "test_network"),
    _m("runtime-nat-refresh-launches-first", "components/network.py", '"min_healthy_percentage": 0}',
       '"min_healthy_percentage": 100}', "test_network"),
    _m("people-parallel-cap-not-pushed", "tools/users.py",
       'return {"models": list(person.models), "max_parallel_requests": person.max_parallel_requests}',
       'return {"models": list(person.models)}', "test_people"),
)


@functools.cache
def _commit() -> str:
    """The commit this run tests, fixed at its first use: commits made while it runs do not mix into it."""
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT_DIR, capture_output=True, text=True,
                          check=True).stdout.strip()


def copy_of_repository(into: Path) -> Path:
    """The committed tree plus the environments the tests use (linked, not copied)."""
    archive = subprocess.run(["git", "archive", _commit()], cwd=ROOT_DIR, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    for name in SHARED:
        if (ROOT_DIR / name).exists():
            (into / name).symlink_to(ROOT_DIR / name)
    return into


def tests_fail(tests: list[str], repository: Path) -> str:
    """How the tests noticed ("" when they did not)."""
    environment = {**os.environ, "PYTHONPATH": f"{repository}{os.pathsep}{repository / 'policies'}"}
    with subprocess.Popen([str(ROOT_DIR / ".venv" / "bin" / "python"), "-m", "pytest", "-x", "-q", "-n0",
                           "-p", "no:cacheprovider", *tests], cwd=repository, env=environment,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True) as process:
        try:
            output, _ = process.communicate(timeout=HANG_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return "the tests hung"
    failed = [line.split(" - ")[0] for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return (failed[0] if failed else "the tests failed") if process.returncode else ""


def judge(mutation: AnyMutation, group: str, tests: list[str], repository: Path) -> Verdict:
    if not tests:
        return Verdict(mutation.name, group, False, "no test runs this line")
    target = repository / mutation.path
    original = target.read_text()
    target.write_text(mutation.apply(original))
    try:
        how = tests_fail(tests, repository)
    finally:
        target.write_text(original)
    return Verdict(mutation.name, group, bool(how), how or f"passed: {' '.join(tests)}")


def sample_of(package: str, repository: Path, size: int) -> list[Mutant]:
    """A fixed sample (seeded by the package's name) of the package's generated mutants."""
    files = sorted(f for entry in PACKAGES[package] for f in
                   ([repository / entry] if entry.endswith(".py") else (repository / entry).rglob("*.py")))
    everything = [m for f in files for m in mutants_of(f, repository)]
    return sorted(random.Random(package).sample(everything, min(size, len(everything))),
                  key=lambda m: (m.path, m.start))


# Tests of this tool: they sample the project's own files, so any change to a sampled file fails them.
NOT_A_VERDICT = {"tests/test_mutations.py"}


def covering_tests(mutant: Mutant, line_map: coverage_map.LineMap, seconds: coverage_map.Seconds,
                   repository: Path) -> list[str]:
    by_line = line_map.get(mutant.path, {})
    found = {m for line in range(min(mutant.statement, mutant.start[0]), mutant.end[0] + 1)
             for m in by_line.get(line, [])}
    outside = next((marker for prefix, marker in RUN_OUTSIDE_THE_TESTS.items() if mutant.path.startswith(prefix)), "")
    if not by_line or outside:
        found |= set(coverage_map.modules_naming(mutant.path, repository, outside))
    return sorted(found - NOT_A_VERDICT, key=lambda module: seconds.get(module, 0.0))


def run_all(jobs: list[tuple[AnyMutation, str, list[str]]], workers: int) -> list[Verdict]:
    copies: queue.Queue[Path] = queue.Queue()
    for _ in range(workers):
        copies.put(copy_of_repository(Path(tempfile.mkdtemp(prefix="mutate-"))))

    def one(job: tuple[AnyMutation, str, list[str]]) -> Verdict:
        repository = copies.get()
        try:
            verdict = judge(*job, repository)
        finally:
            copies.put(repository)
        print(f"{'killed  ' if verdict.killed else 'SURVIVED'} [{verdict.group}] {verdict.name}  ({verdict.how})",
              flush=True)
        return verdict

    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, jobs))
    finally:
        while not copies.empty():
            shutil.rmtree(copies.get())


def report(verdicts: list[Verdict]) -> float:
    for group in dict.fromkeys(v.group for v in verdicts):
        mine = [v for v in verdicts if v.group == group]
        print(f"{group:16} {sum(v.killed for v in mine):4} of {len(mine):4} killed")
    rate = sum(v.killed for v in verdicts) / len(verdicts)
    print(f"{'overall':16} {sum(v.killed for v in verdicts):4} of {len(verdicts):4} killed ({rate:.0%}), "
          f"tests at {_commit()[:7]}")
    for verdict in verdicts:
        if not verdict.killed:
            print(f"  survivor [{verdict.group}] {verdict.name}: {verdict.how}")
    BUILD.mkdir(exist_ok=True)
    result = {"commit": _commit(), "verdicts": [v.__dict__ for v in verdicts]}
    (BUILD / "mutate-last.json").write_text(json.dumps(result, indent=1))
    return rate


def _code_version() -> str:
    """The committed tree without this tool and the docs: the coverage map stays valid while only those change."""
    listing = subprocess.run(["git", "ls-tree", "-r", _commit()], cwd=ROOT_DIR, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    code = [line for line in listing if not line.split("\t", 1)[1].startswith(("bench/", "docs/"))
            and not line.endswith(".md")]
    return hashlib.sha256("\n".join(code).encode()).hexdigest()


def planned_jobs(arguments: argparse.Namespace) -> list[tuple[AnyMutation, str, list[str]]]:
    """The catalogue (unless packages are named) and, unless only catalogue entries are asked for, each package's
    sample; --only filters both by name."""
    jobs: list[tuple[AnyMutation, str, list[str]]] = [
        (m, "catalogue", list(m.tests)) for m in MUTATIONS if not arguments.package and arguments.only in m.name]
    if arguments.only and not arguments.package:
        return jobs
    with tempfile.TemporaryDirectory(prefix="mutate-map-") as scratch:
        repository = copy_of_repository(Path(scratch))
        line_map, seconds = coverage_map.load_or_build(repository, _code_version(), BUILD / "mutate-coverage.json",
                                                       arguments.jobs)
        for package in arguments.package or PACKAGES:
            jobs += [(m, package, covering_tests(m, line_map, seconds, repository))
                     for m in sample_of(package, repository, arguments.sample) if arguments.only in m.name]
    return jobs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="only the mutations whose name contains this (without --package: "
                        "only catalogue entries)")
    parser.add_argument("--package", action="append", choices=PACKAGES, help="only this package's generated "
                        "mutants (repeatable)")
    parser.add_argument("--sample", type=int, default=SAMPLE_PER_PACKAGE, help="generated mutants per package")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once, each in its own copy")
    arguments = parser.parse_args()
    rate = report(run_all(planned_jobs(arguments), arguments.jobs))
    return 0 if rate >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
