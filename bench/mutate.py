"""`make mutate`: how many plausible bugs the suite kills. Each mutation is a real mistake a developer could make
(one edit: a threshold in the wrong unit, a comparison off by one, a check dropped, a list widened); it is applied
to a copy of the repository, the test modules that should notice are run, and it counts as killed when they fail.

    .venv/bin/python -m bench.mutate              # all, then the kill rate and the survivors
    .venv/bin/python -m bench.mutate --only alarm  # those whose name contains "alarm"

Minutes long: not part of `make test` (tests/test_mutations.py only checks that every mutation still applies).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
SHARED = (".venv", ".venv-litellm", "node_modules")


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


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
    _m("people-parallel-cap-not-pushed", "tools/users.py",
       'return {"models": list(person.models), "max_parallel_requests": person.max_parallel_requests}',
       'return {"models": list(person.models)}', "test_people"),
)


def copy_of_repository(into: Path) -> Path:
    """The committed tree plus the environments the tests use (linked, not copied)."""
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT_DIR, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    for name in SHARED:
        if (ROOT_DIR / name).exists():
            (into / name).symlink_to(ROOT_DIR / name)
    return into


def killed(mutation: Mutation, repository: Path) -> bool:
    target = repository / mutation.path
    original = target.read_text()
    if original.count(mutation.old) != 1:
        raise ValueError(f"{mutation.name}: the text to mutate is not in {mutation.path} exactly once")
    target.write_text(original.replace(mutation.old, mutation.new))
    try:
        environment = {**os.environ, "PYTHONPATH": f"{repository}{os.pathsep}{repository / 'policies'}"}
        done = subprocess.run([str(ROOT_DIR / ".venv" / "bin" / "python"), "-m", "pytest", "-x", "-q", "-n0",
                               "-p", "no:cacheprovider", *mutation.tests], cwd=repository, env=environment,
                              capture_output=True, text=True, check=False)
        return done.returncode != 0
    finally:
        target.write_text(original)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="run the mutations whose name contains this")
    chosen = [m for m in MUTATIONS if parser.parse_args().only in m.name]
    repository = copy_of_repository(Path(tempfile.mkdtemp(prefix="mutate-")))
    try:
        survivors = []
        for mutation in chosen:
            verdict = killed(mutation, repository)
            print(f"{'killed  ' if verdict else 'SURVIVED'} {mutation.name}", flush=True)
            survivors += [] if verdict else [mutation.name]
    finally:
        shutil.rmtree(repository)
    rate = (len(chosen) - len(survivors)) / len(chosen)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} killed ({rate:.0%}); survivors: {survivors or 'none'}")
    return 0 if rate >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
