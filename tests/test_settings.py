"""Stack settings: seed defaults, and every bad input rejected with the key and what is allowed."""

from __future__ import annotations

import json

import pytest

from aws_limits import FARGATE_MEMORY_BY_CPU
from catalog import MODEL_CATALOG
from offline.engine import Graph, run_into, stack_config, stack_settings
from settings import PROJECT, Settings, SettingsError, load_settings


def settings_for(stack: str, **overrides: object) -> Settings:
    """Overrides replace whole keys here, so a bad value is never hidden by a merge."""
    config = dict(stack_config(stack))
    config.update({f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in overrides.items()})
    return load_settings(PROJECT, stack, config)


def test_dev_follows_the_seed() -> None:
    dev = settings_for("dev")
    assert dev.region == "us-west-1"
    assert dev.network.vpc_cidr == "10.10.0.0/16" and dev.network.az_count == 2
    assert (dev.litellm.cpu, dev.litellm.memory) == (512, 1024)
    assert (dev.grafana.cpu, dev.grafana.memory) == (256, 512)
    assert (dev.victoriametrics.cpu, dev.victoriametrics.memory) == (256, 512)
    assert dev.models == ("claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-5")
    assert dev.network.nat_instance_type == "t4g.nano"


def test_prod_is_hardened() -> None:
    prod = settings_for("prod")
    assert prod.deletion_protection
    assert prod.litellm.desired_count == 2
    assert not any(s.spot for s in (prod.litellm, prod.grafana, prod.victoriametrics))


def test_defaults_apply_to_an_empty_stack() -> None:
    empty = load_settings(PROJECT, "sandbox", {})
    assert empty.network.vpc_cidr == "10.10.0.0/16" and empty.log_retention_days == 30
    assert empty.tags["Environment"] == "sandbox" and empty.tags["ManagedBy"] == "pulumi"
    assert set(empty.tags) >= {"Project", "Environment", "Owner", "CostCenter", "ManagedBy"}


def test_tags_are_overridable() -> None:
    tags = settings_for("dev", tags={"Owner": "ml-team", "Team": "search"}).tags
    assert tags["Owner"] == "ml-team" and tags["Team"] == "search" and tags["Project"] == PROJECT


def test_prices_are_the_corrected_list_prices() -> None:
    prices = {m.name: (m.input_usd_per_mtok, m.output_usd_per_mtok) for m in MODEL_CATALOG.values()}
    assert prices == {"claude-haiku-4-5": (1, 5), "claude-sonnet-4-5": (3, 15), "claude-opus-4-5": (5, 25)}


def test_every_fargate_pair_offered_is_accepted() -> None:
    for cpu, memories in FARGATE_MEMORY_BY_CPU.items():
        for memory in (memories[0], memories[-1]):
            assert settings_for("dev", litellm={"cpu": cpu, "memory": memory}).litellm.memory == memory


BAD_INPUT = [
    ("network", {"vpcCidr": "10.10.0.0/33"}, "network.vpcCidr", "not an IPv4 CIDR"),
    ("network", {"vpcCidr": "not-a-cidr"}, "network.vpcCidr", "not an IPv4 CIDR"),
    ("network", {"vpcCidr": "52.10.0.0/16"}, "network.vpcCidr", "not private"),
    ("network", {"vpcCidr": "10.0.0.0/8"}, "network.vpcCidr", "allowed: /16 to /24"),
    ("network", {"vpcCidr": "10.10.0.0/26"}, "network.vpcCidr", "allowed: /16 to /24"),
    ("network", {"azCount": 1}, "network.azCount", "greater than or equal to 2"),
    ("network", {"azCount": 4}, "network.azCount", "less than or equal to 3"),
    ("network", {"natInstanceType": "t3.nano"}, "network.natInstanceType", "should match pattern"),
    ("litellm", {"cpu": 512, "memory": 512}, "litellm", "allowed: [1024, 2048, 3072, 4096]"),
    ("grafana", {"cpu": 300, "memory": 512}, "grafana", "allowed: [256, 512, 1024"),
    ("litellm", {"cpu": 512, "memory": 1024, "desiredCount": 3, "maxCount": 2}, "litellm", "below desiredCount"),
    ("logRetentionDays", 10, "logRetentionDays", "allowed: 1, 3, 5, 7, 14"),
    ("logRetentionDays", 0, "logRetentionDays", "allowed: 1, 3"),
    ("models", [], "models", "at least 1 item"),
    ("models", ["gpt-4o"], "models", "allowed: ['claude-haiku-4-5'"),
    ("budgets", {"developer": {"maxBudgetUsd": -1}}, "budgets.developer.maxBudgetUsd", "greater than or equal to 0"),
    ("budgets", {"developer": {"maxBudgetUsd": 5, "period": "monthly"}}, "budgets.developer.period",
     "should match pattern"),
    ("tags", {"aws:owner": "x"}, "tags", "reserved 'aws:' prefix"),
    ("tags", {"k" * 129: "x"}, "tags", "allowed: 1 to 128"),
    ("tags", {"Owner": "v" * 257}, "tags", "allowed: at most 256"),
    ("tags", {"Owner": "semi;colon"}, "tags", "allowed characters"),
    ("tags", {f"T{i}": "x" for i in range(40)}, "tags", "allowed: at most 40"),
    ("bedrock", {"region": "mars-1"}, "bedrock.region", "should match pattern"),
    ("vpcCidr", "10.10.0.0/16", "vpcCidr", "unknown setting"),
    ("grafana", {"cpu": 256, "memory": 512, "spot": True, "architecture": "ARM64"}, "grafana.spot",
     "allowed: set grafana.architecture: X86_64"),
    ("victoriametrics", {"cpu": 256, "memory": 512, "desiredCount": 2, "maxCount": 2}, "victoriametrics",
     "allowed: desiredCount 1, maxCount 1"),
    ("victoriametrics", {"cpu": 256, "memory": 512, "retentionPeriod": "forever"}, "victoriametrics.retentionPeriod",
     "should match pattern"),
    ("database", {"allocatedStorageGb": 50, "maxAllocatedStorageGb": 30}, "database", "below allocatedStorageGb"),
    ("database", {"backupRetentionDays": 0}, "database.backupRetentionDays", "greater than or equal to 1"),
    ("database", {"engineVersion": "9.6"}, "database.engineVersion", "should match pattern"),
    ("alertEmail", "not-an-address", "alertEmail", "should match pattern"),
    ("edge", {"originMode": "direct"}, "edge.originMode", "'public-alb' or 'vpc-origin'"),
    ("edge", {"albIdleTimeoutSeconds": 60}, "edge.albIdleTimeoutSeconds", "greater than or equal to 300"),
    ("edge", {"originReadTimeoutSeconds": 181}, "edge.originReadTimeoutSeconds", "less than or equal to 180"),
    ("edge", {"priceClass": "PriceClass_50"}, "edge.priceClass", "'PriceClass_100'"),
    ("edge", {"domain": {"name": "Not A Host", "hostedZoneId": "Z123456"}}, "edge.domain.name", "pattern"),
    ("edge", {"domain": {"name": "llm.example.com"}}, "edge.domain.hostedZoneId", "Field required"),
    ("edge", {"waf": {"enabled": True, "rateLimitPer5Minutes": 5}}, "edge.waf.rateLimitPer5Minutes",
     "greater than or equal to 10"),
    ("alerting", {"latencyP95Seconds": 0}, "alerting.latencyP95Seconds", "greater than 0"),
    ("alerting", {"bedrockErrors": -1}, "alerting.bedrockErrors", "greater than or equal to 0"),
    ("alerting", {"p95": 3}, "alerting.p95", "unknown setting"),
    # An allow list for everyone, in each notation; a range that is no CIDR.
    ("edge", {"adminCidrs": ["0.0.0.0/0"]}, "edge.adminCidrs", "an allow list for everyone is no allow list"),
    ("edge", {"adminCidrs": ["203.0.113.0/24", "::/0"]}, "edge.adminCidrs", "for everyone is no allow list"),
    ("edge", {"grafanaCidrs": ["0::/0"]}, "edge.grafanaCidrs", "for everyone is no allow list"),
    ("edge", {"adminCidrs": ["203.0.113.7/33"]}, "edge.adminCidrs", "is not a CIDR"),
    ("edge", {"adminCidrs": ["203.0.113.1/24"]}, "edge.adminCidrs", "has host bits set"),
    ("egress", {"mode": "endpoints"}, "egress.mode", "'allow-list' or 'open'"),
    ("egress", {"extraDomains": ["*.com"]}, "egress.extraDomains", "allows a whole top-level domain"),
    ("egress", {"extraDomains": ["hooks example.com"]}, "egress.extraDomains", "is not a DNS name"),
    ("egress", {"extraDomains": ["*"]}, "egress.extraDomains", "is not a DNS name"),
]


@pytest.mark.parametrize(("key", "value", "named", "says"), BAD_INPUT,
                         ids=[f"{b[2]}={str(b[1])[:30]}" for b in BAD_INPUT])
def test_bad_input_names_the_key_and_what_is_allowed(key: str, value: object, named: str, says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_for("dev", **{key: value})
    assert f"{PROJECT}:{named}" in str(raised.value)
    assert says in str(raised.value)


def test_budget_models_must_be_served() -> None:
    with pytest.raises(SettingsError, match=r"llm-gateway:budgets\.developer\.models: .*claude-opus-4-5.* not served"):
        settings_for("dev", models=["claude-haiku-4-5"],
                     budgets={"developer": {"maxBudgetUsd": 10, "models": ["claude-opus-4-5"]}})


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        settings_for("dev", logRetentionDays=2, network={"vpcCidr": "8.8.8.0/24"})
    assert "logRetentionDays" in str(raised.value) and "network.vpcCidr" in str(raised.value)


def test_bad_input_stops_the_program_before_any_resource() -> None:
    graph = Graph(stack="dev", resources=[], invokes=[], outputs={})
    config = {**stack_config("dev"), f"{PROJECT}:network": json.dumps({"vpcCidr": "8.8.0.0/16"})}
    with pytest.raises(SettingsError, match=r"network\.vpcCidr"):
        run_into(graph, config)
    assert graph.resources == []


def test_more_zones_than_the_region_offers_is_named() -> None:
    graph = Graph(stack="dev", resources=[], invokes=[], outputs={})
    config = {**stack_config("dev"), f"{PROJECT}:network": json.dumps({"azCount": 3})}
    with pytest.raises(ValueError, match=r"llm-gateway:network.azCount = 3: region us-west-1 offers 1 usable"):
        run_into(graph, config, availability_zones=2)
    assert not [r for r in graph.resources if r.custom and not r.is_provider]


def test_a_bedrock_region_the_us_profiles_cannot_be_called_from_is_refused_naming_the_setting(
        dev_config: dict[str, str]) -> None:
    """The models go through `us.` inference profiles, which exist only in US regions: elsewhere the plan would
    grant and configure profiles that do not exist (it used to plan, pricing nothing)."""
    abroad = {**dev_config, "aws:region": "eu-west-1"}
    with pytest.raises(SettingsError, match=r"aws:region .*eu-west-1 cannot call the models' `us.` inference"):
        stack_settings("dev", abroad)
    with pytest.raises(SettingsError, match=r"bedrock.region: eu-central-1 cannot call"):
        stack_settings("dev", {**dev_config, f"{PROJECT}:bedrock": json.dumps({"region": "eu-central-1"})})
    assert stack_settings("dev", {**abroad, f"{PROJECT}:bedrock": json.dumps({"region": "us-east-1"})}).region == (
        "eu-west-1")
