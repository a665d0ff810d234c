"""The monthly bill each plan prints: every billable resource priced from the table, nothing unpriced counted as zero,
the arithmetic from the graph and the table (never from numbers written here), and the difference between plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from catalog import MODEL_CATALOG
from offline import cost
from offline.engine import ROOT_DIR, Graph, Resource, run, stack_config, stack_settings
from settings import PROJECT
from tests.docs import documentation
from tests.stacks import config_with, plan_command, run_with, settings_of

REGIONS = ("us-west-1", "us-east-1", "us-west-2")


def bill(graph: Graph, config: dict[str, str] | None = None) -> cost.Bill:
    return cost.estimate(graph, settings_of(graph, config))


def price(key: str, region: str = "us-west-1") -> float:
    return cost.prices()[(key, region)].usd


@pytest.fixture(scope="module")
def variants() -> list[tuple[Graph, dict[str, str]]]:
    """Every optional part on: a domain, WAF, public ALB, a cache, enhanced insights, three zones."""
    config = config_with("prod", edge={"originMode": "public-alb", "domain": {
        "name": "llm.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}, "waf": {"enabled": True}},
        network={"vpcCidr": "10.20.0.0/16", "azCount": 3, "natInstanceType": "t4g.micro"})
    return [(run("prod", config), config)]


def test_every_aws_type_any_plan_creates_is_priced_or_free_for_a_reason(
        dev: Graph, prod: Graph, variants: list[tuple[Graph, dict[str, str]]]) -> None:
    for graph in (dev, prod, *(g for g, _ in variants)):
        assert cost.unknown_types(graph) == [], "a new billable type needs a pricer in offline/cost.py or a reason"


def test_a_type_nobody_priced_is_named_not_counted_as_zero(dev: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(cost.FREE, "aws:efs/mountTarget:MountTarget")
    monkeypatch.delitem(cost.PRICERS, "aws:rds/instance:Instance")
    estimate = bill(dev)
    assert any("aws:efs/mountTarget:MountTarget: no pricer" in u for u in estimate.unpriced)
    assert any("aws:rds/instance:Instance: no pricer" in u for u in estimate.unpriced)
    assert not any(line.item.startswith("RDS") for line in estimate.lines)
    assert "unpriced: aws:efs" in cost.render(estimate.as_dict())


def test_both_stacks_print_a_fully_priced_bill(dev: Graph, prod: Graph) -> None:
    for graph in (dev, prod):
        estimate = bill(graph)
        assert estimate.unpriced == [], graph.stack
        assert all(line.unit_usd is not None for line in estimate.lines)
        assert estimate.total == round(sum(line.monthly for line in estimate.lines), 2) > 0


def test_dev_idles_at_or_under_seventy_five_dollars_a_month(dev: Graph) -> None:
    """A guard on dev staying cheap: $61.17 until VictoriaMetrics' EFS operations were measured and billed ($11.92);
    a change that moves dev past $75 is a decision to say so, not a drift."""
    assert bill(dev).total <= 75


def test_a_region_without_prices_is_named(dev: Graph) -> None:
    config = {**stack_config("dev"), "aws:region": "us-west-2"}
    oregon = bill(run("dev", config), config)
    assert "cloudwatch.alarm-metric-month in us-west-2" in oregon.unpriced
    assert all((line.monthly is None) == (line.unit_usd is None) for line in oregon.lines)


def test_fargate_is_priced_from_the_task_size_capacity_and_architecture(prod: Graph) -> None:
    """prod's LiteLLM: 2 tasks of 1 vCPU / 2 GB on FARGATE x86_64; Grafana and VictoriaMetrics on ARM64."""
    lines = {line.item: line for line in bill(prod).lines}
    litellm = prod.one("aws:ecs/service:Service", "-litellm-service")
    definition = next(d for d in prod.of_type("aws:ecs/taskDefinition:TaskDefinition")
                      if d.outputs["arn"] == litellm.inputs["taskDefinition"])
    tasks, vcpu = litellm.inputs["desiredCount"], int(definition.inputs["cpu"]) / 1024
    assert lines["Fargate x86_64 vCPU"].quantity == tasks * vcpu * cost.HOURS_PER_MONTH
    assert lines["Fargate x86_64 vCPU"].monthly == round(tasks * vcpu * 730 * price("fargate.vcpu-hour.x86_64"), 2)
    assert "derived price" in lines["Fargate arm64 vCPU"].note, "a derived price is marked as such"


def test_alarms_are_billed_per_metric_and_the_database_by_class_and_layout(prod: Graph) -> None:
    alarms = prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    metrics = sum(max(1, sum(1 for q in a.inputs.get("metricQueries") or [] if q.get("metric"))) for a in alarms)
    tracking = 2 * len(prod.of_type("aws:appautoscaling/policy:Policy"))  # each keeps a scale-out and a scale-in alarm
    lines = {line.item: line for line in bill(prod).lines}
    assert lines["CloudWatch alarm"].quantity == metrics + tracking > len(alarms)
    db = prod.one("aws:rds/instance:Instance").inputs
    assert db["multiAz"] and f"RDS PostgreSQL {db['instanceClass']} multi-az" in lines
    assert lines["ElastiCache Valkey cache.t4g.micro"].quantity == 2 * cost.HOURS_PER_MONTH


def test_public_addresses_are_counted_where_aws_bills_them(dev: Graph,
                                                           variants: list[tuple[Graph, dict[str, str]]]) -> None:
    """The NAT's Elastic IP replaces its launch-time address; an internal ALB has none, a public one one per zone."""
    addresses = lambda graph, config=None: sum(  # noqa: E731
        line.quantity for line in bill(graph, config).lines if "IPv4" in line.item) / cost.HOURS_PER_MONTH
    assert addresses(dev) == 1
    graph, config = variants[0]
    assert addresses(graph, config) == 1 + 3


def test_the_price_table_names_a_source_and_date_for_every_line_in_three_regions() -> None:
    table = yaml.safe_load(cost.PRICES_FILE.read_text())["prices"]
    assert all(row["source"] and row["as_of"] and row["basis"] in ("price list", "third party", "flat", "derived")
               for row in table)
    assert {row["region"] for row in table} >= set(REGIONS)
    assert len({(row["key"], row["region"]) for row in table}) == len(table), "one price per key and region"
    for key in ("fargate.vcpu-hour.x86_64", "rds.hour.db.t4g.micro.single-az", "valkey.node-hour.cache.t4g.micro"):
        assert {region for (k, region) in cost.prices() if k == key} >= set(REGIONS), key


def plan_output(*args: str) -> str:
    result = plan_command(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_plan_prints_the_bill_bedrock_prices_and_what_a_budget_buys() -> None:
    printed = plan_output("dev", "--cost-only")
    assert "Monthly cost, idle, us-west-1" in printed and "unpriced: none" in printed
    assert "claude-sonnet-4-5 $3.3/$16.5 (us.)" in printed
    assert "A developer budget ($10.00/1mo) buys about" in printed


def test_against_prints_the_difference_between_two_plans(tmp_path: Path) -> None:
    base = plan_output("dev", "--json")
    (tmp_path / "base.json").write_text(base)
    printed = plan_output("prod", "--cost-only", "--against-file", str(tmp_path / "base.json"))
    dev_total = json.loads(base)["cost"]["total"]
    assert f"${dev_total:,.2f} -> prod $" in printed and dev_total == cost.load_bill(tmp_path / "base.json")["total"]
    assert "ElastiCache Valkey cache.t4g.micro: $0.00 -> $" in printed
    (tmp_path / "old.json").write_text(json.dumps({"stack": "dev"}))  # a plan from before the estimator
    assert cost.load_bill(tmp_path / "old.json")["total"] == 0


def test_the_readme_states_the_totals_the_plans_print(dev: Graph, prod: Graph) -> None:
    readme = documentation()
    for graph in (dev, prod):
        assert f"${bill(graph).total:,.2f}" in readme, graph.stack


def test_a_cache_setting_moves_the_bill_by_its_nodes(dev: Graph) -> None:
    config = config_with("dev", cache={"enabled": True})
    with_cache = bill(run_with("dev", cache={"enabled": True}), config)
    assert round(with_cache.total - bill(dev).total, 2) == round(
        730 * price("valkey.node-hour.cache.t4g.micro") + price("secretsmanager.secret-month")  # node, token
        + price("cloudwatch.alarm-metric-month") + price("cloudwatch.custom-metric-month"), 2)  # cache-errors


def test_a_region_without_prices_says_cost_unknown_loudly() -> None:
    """eu-west-1 with Bedrock called in us-east-1 plans; its prices are not in the table: never a $0.00 total."""
    config = {**stack_config("dev"), "aws:region": "eu-west-1",
              f"{PROJECT}:bedrock": json.dumps({"region": "us-east-1"})}
    graph = run("dev", config)
    abroad = bill(graph, config)
    rendered = cost.render(abroad.as_dict())
    assert abroad.unpriced and abroad.as_dict()["complete"] is False
    assert "COST UNKNOWN: at least $" in rendered and "price(s) missing for eu-west-1" in rendered
    at_home = bill(run("dev"))
    assert at_home.as_dict()["complete"] is True and "COST UNKNOWN" not in cost.render(at_home.as_dict())


def test_the_nat_root_volume_is_fck_nats_2_gb(dev: Graph) -> None:
    """The launch template keeps the AMI's root volume size; fck-nat's AMIs have 2 GB (docs/deploying.md)."""
    (mapping,) = dev.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["blockDeviceMappings"]
    assert "volumeSize" not in mapping["ebs"]
    (line,) = [line for line in bill(dev).lines if line.item.startswith("EBS gp3 root volume")]
    assert line.quantity == 2


def test_the_probe_is_priced_at_its_own_architecture(dev: Graph) -> None:
    architecture = (dev.one("aws:lambda/function:Function").inputs.get("architectures") or ["x86_64"])[0]
    (line,) = [line for line in bill(dev).usage if line.item.startswith("Lambda")]
    assert line.unit_usd == price(f"lambda.gb-second.{architecture}")


def test_an_anomaly_detection_alarm_counts_three_metrics() -> None:
    """CloudWatch bills an anomaly detection alarm as three metrics (the metric and its band's two bounds)."""
    def alarm(expression: str) -> Resource:
        queries = [{"id": "m1", "metric": {"metricName": "Errors"}}, {"id": "band", "expression": expression}]
        return Resource(urn=f"urn:{expression}", type="aws:cloudwatch/metricAlarm:MetricAlarm", name="a",
                        inputs={"metricQueries": queries}, outputs={}, parent="", provider="", custom=True,
                        protect=False)

    quantities = {}
    for expression in ("ANOMALY_DETECTION_BAND(m1, 2)", "m1 * 2"):
        graph = Graph("probe", [alarm(expression)], [], {})
        quantities[expression] = cost.estimate(graph, stack_settings("dev")).lines[0].quantity
    assert quantities == {"ANOMALY_DETECTION_BAND(m1, 2)": 3, "m1 * 2": 1}


def test_a_turn_is_priced_with_claude_codes_prompt_caching(dev: Graph) -> None:
    """90 % of a 20k-token turn's input is read from the cache (0.1x), 10 % written to it (1.25x), 1k out."""
    sonnet = MODEL_CATALOG["claude-sonnet-4-5"]
    input_usd, output_usd = sonnet.billed_usd_per_mtok
    expected = (20_000 * input_usd * (0.9 * 0.1 + 0.1 * 1.25) + 1_000 * output_usd) / 1e6
    (developer,) = [b for b in bill(dev).budgets if b["tier"] == "developer"]
    assert developer["model"] == "claude-sonnet-4-5" and developer["turn_usd"] == round(expected, 4)
    assert developer["turns"] == int(10 // expected)


def test_victoriametrics_efs_operations_are_billed_by_the_measurement_and_the_people(dev: Graph) -> None:
    """bench/efs_io.py's two runs (3 and 50 people) give base + per person; the plan reads people/<stack>.yaml."""
    lines = {line.item: line for line in bill(dev).lines}
    people = cost.people_count("dev")
    assert people == len(yaml.safe_load((ROOT_DIR / "people" / "dev.yaml").read_text())["people"]) > 0
    for kind, (base, per_person) in cost.EFS_METERED_GIB.items():
        line = lines[f"EFS Elastic {kind}s (VictoriaMetrics, measured)"]
        assert line.quantity == round(base + per_person * people, 1)
        assert line.unit_usd == price(f"efs.elastic-{kind}-gb")
    three = sum(base + per_person * 3 for base, per_person in cost.EFS_METERED_GIB.values())
    fifty = sum(base + per_person * 50 for base, per_person in cost.EFS_METERED_GIB.values())
    assert 300 < three < fifty < 500, "the measured runs: 323 and 459 GiB metered a month"
