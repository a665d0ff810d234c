"""Egress by name (issue: Bedrock-only egress in fact): the VPC's resolver answers only the names the gateway needs,
failing closed; prod's model calls take a Bedrock runtime endpoint; the pack refuses a stack whose private subnets
may resolve anything; the plan prices each mode. The twin's drills (tests/test_vpc_twin.py) connect by these rules."""

from __future__ import annotations

import json
from types import SimpleNamespace
from unittest import mock

import pytest

from catalog import MODEL_CATALOG
from offline.cost import estimate
from offline.engine import ACCOUNT_ID, Graph, Resource, run, stack_config
from offline.plan import egress_of
from offline.policy_check import evaluate, mandatory
from settings import PROJECT, SettingsError
from tests.reachability import Peer, admits, group_id
from tests.stacks import planned, run_with, settings_of
from tests.test_runtime_contracts import bedrock_requests
from tests.test_settings import settings_for
from tests.twin.endpoints import CALLS, ECR_LAYERS, NAT_CALLS, OUTSIDE, calls_of
from tests.twin.plan import firewall
from tests.twin.resolver import firewall_action

from iam_logic import is_allowed

ASSOCIATION = "aws:route53/resolverFirewallRuleGroupAssociation:ResolverFirewallRuleGroupAssociation"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
# Names nothing in the gateway calls, each a way out an allow list must not leave open: another account's S3
# bucket, a load balancer or API anyone can create, Bedrock's other endpoints, GitHub, a DNS-over-HTTPS resolver.
NOBODY_NEEDS = (*OUTSIDE, "exfil-bucket.s3.us-west-1.amazonaws.com", "exfil-bucket.s3.amazonaws.com",
                "someone.us-west-1.elb.amazonaws.com", "abc123.execute-api.us-west-1.amazonaws.com",
                "bedrock-runtime.us-east-1.amazonaws.com", "bedrock.us-west-1.amazonaws.com", "api.github.com",
                "dns.google", "stats.grafana.org", "grafana.com", "secure.gravatar.com", "huggingface.co")


def needed_names(graph: Graph) -> set[str]:
    """Every name something in the VPC looks up at run time: the AWS endpoints each unit calls, the NAT's boot,
    ECR's layers, the services' Cloud Map names, and the database's, cache's and volume's endpoints."""
    settings = settings_of(graph)
    names = {n for unit in CALLS for n in calls_of(unit, settings.region, settings.bedrock_region, ACCOUNT_ID)}
    names |= {n.format(region=settings.region) for n in NAT_CALLS} | {ECR_LAYERS.format(region=settings.region)}
    namespace = graph.one("aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace").inputs["name"]
    names |= {f"{s.inputs['name']}.{namespace}" for s in graph.of_type("aws:servicediscovery/service:Service")}
    names |= {graph.one("aws:rds/instance:Instance").outputs["address"],
              f"{graph.one('aws:efs/fileSystem:FileSystem').outputs['id']}.efs.{settings.region}.amazonaws.com"}
    names |= {c.outputs["primaryEndpointAddress"]
              for c in graph.of_type("aws:elasticache/replicationGroup:ReplicationGroup")}
    return names


def test_the_vpc_resolver_answers_only_the_allow_list_and_fails_closed(stack: Graph) -> None:
    (association,) = stack.of_type(ASSOCIATION)
    assert association.inputs["vpcId"] == stack.id_of(stack.one("aws:ec2/vpc:Vpc"))
    rules = sorted(firewall(stack), key=lambda r: r.order)
    assert [(r.action, r.domains == ("*",)) for r in rules] == [("ALLOW", False), ("BLOCK", True)]
    allow, block = (stack.one("aws:route53/resolverFirewallRule:ResolverFirewallRule", f"-{n}")
                    for n in ("allow", "block-rest"))
    assert allow.inputs["firewallDomainRedirectionAction"] == "TRUST_REDIRECTION_DOMAIN", "AWS names go by CNAMEs"
    assert block.inputs["blockResponse"] == "NXDOMAIN", "a refused name fails at once, not after a timeout"
    config = stack.one("aws:route53/resolverFirewallConfig:ResolverFirewallConfig")
    assert config.inputs == {"resourceId": association.inputs["vpcId"], "firewallFailOpen": "DISABLED"}


def test_every_name_the_gateway_looks_up_is_allowed_and_no_way_out_is(stack: Graph) -> None:
    rules = firewall(stack)
    names = needed_names(stack)
    assert len(names) >= 14
    assert sorted(n for n in names if firewall_action(rules, n) != "ALLOW") == []
    assert sorted(n for n in NOBODY_NEEDS if firewall_action(rules, n) != "BLOCK") == []


def test_a_wildcard_over_cache_names_only_where_there_is_a_cache(dev: Graph, prod: Graph) -> None:
    assert firewall_action(firewall(dev), "master.x.abc.usw1.cache.amazonaws.com") == "BLOCK"
    assert firewall_action(firewall(prod), "master.x.abc.usw1.cache.amazonaws.com") == "ALLOW"


def test_the_association_applies_only_complete_rules_and_rules_replace_first(dev: Graph) -> None:
    """Associated with only its block rule the group would answer no name; AWS refuses two rules of a group (or two
    associations of a VPC) at one priority, so a replacement goes first."""
    association = dev.one(ASSOCIATION)
    rules = dev.of_type("aws:route53/resolverFirewallRule:ResolverFirewallRule")
    assert {r.urn for r in rules} <= set(association.dependencies)
    assert all(r.options["deleteBeforeReplace"] for r in [*rules, association])
    litellm = dev.one("aws:ecs/service:Service", "-litellm-service")
    assert dev.waits_for(litellm, association) and dev.waits_for(litellm, dev.one(
        "aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList", "-allowed"))


def test_extra_domains_join_the_allow_list() -> None:
    graph = run_with("dev", egress={"mode": "allow-list", "extraDomains": ["hooks.example.com", "*.corp.example"]})
    rules = firewall(graph)
    assert firewall_action(rules, "hooks.example.com") == firewall_action(rules, "a.corp.example") == "ALLOW"
    assert firewall_action(rules, "example.com") == "BLOCK"


def test_open_mode_plans_no_firewall_and_the_pack_refuses_it() -> None:
    graph = run_with("dev", egress={"mode": "open"})
    assert not graph.of_type(ASSOCIATION)
    refused = [v for v in mandatory(evaluate(graph)) if v.policy == "egress-names-allow-listed"]
    assert refused and "no DNS Firewall rule group" in refused[0].message


def test_both_stacks_pass_the_egress_policy(stack: Graph) -> None:
    assert [v for v in evaluate(stack) if v.policy == "egress-names-allow-listed"] == []


def bedrock_endpoint(graph: Graph) -> Resource:
    (endpoint,) = [e for e in graph.of_type(ENDPOINT) if e.inputs["vpcEndpointType"] == "Interface"]
    return endpoint


def test_prod_model_calls_take_a_bedrock_endpoint_that_admits_only_litellm() -> None:
    prod = planned("prod")
    endpoint = bedrock_endpoint(prod)
    assert endpoint.inputs["serviceName"] == f"com.amazonaws.{settings_of(prod).region}.bedrock-runtime"
    assert endpoint.inputs["privateDnsEnabled"] is True, "the Bedrock name must resolve to the endpoint"
    private = {prod.id_of(s) for s in prod.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["Tier"] == "private"}
    assert set(endpoint.inputs["subnetIds"]) == private
    (group,) = endpoint.inputs["securityGroupIds"]
    assert group == group_id(prod, "-bedrock-endpoint-sg")
    others = ("grafana", "victoriametrics", "egress-probe", "alb")
    assert admits(prod, group, "in", 443, Peer(group_id=group_id(prod, "-litellm-sg")))
    assert not any(admits(prod, group, "in", 443, Peer(group_id=group_id(prod, f"-{o}-sg"))) for o in others)
    assert not admits(prod, group, "in", 443, Peer(address="10.20.128.10"))
    assert not planned("dev").of_type(ENDPOINT)[1:], "dev's model calls take the NAT (one endpoint: S3's)"


def test_the_endpoint_policy_allows_this_accounts_calls_of_the_served_models_only() -> None:
    prod = planned("prod")
    policy = json.loads(bedrock_endpoint(prod).inputs["policy"])
    ours, theirs = {"aws:PrincipalAccount": ACCOUNT_ID}, {"aws:PrincipalAccount": "999999999999"}
    for action, resource, context in bedrock_requests(prod):
        assert is_allowed([policy], action, resource, {**context, **ours}), f"{action} {resource}"
        assert not is_allowed([policy], action, resource, {**context, **theirs}), f"{action} {resource} (other)"
    region = settings_of(prod).bedrock_region
    haiku = MODEL_CATALOG["claude-haiku-4-5"].bedrock_id
    assert not is_allowed([policy], "bedrock:InvokeModel",
                          f"arn:aws:bedrock:{region}::foundation-model/{haiku}", ours), "only through a profile"
    assert not is_allowed([policy], "bedrock:InvokeModel",
                          f"arn:aws:bedrock:{region}::foundation-model/meta.llama3-70b-instruct-v1:0", ours)
    assert not is_allowed([policy], "bedrock:GetFoundationModel", "*", ours)


def test_an_endpoint_only_where_bedrock_is_and_in_zones_that_offer_it() -> None:
    with pytest.raises(SettingsError, match=rf"{PROJECT}:egress.bedrockEndpoint: .*serves its own region"):
        settings_for("prod", bedrock={"region": "us-east-1"})
    offered_elsewhere = SimpleNamespace(availability_zones=["us-west-1z"])
    with (mock.patch("components.egress_controls.aws.ec2.get_vpc_endpoint_service", return_value=offered_elsewhere),
          pytest.raises(Exception, match=r"egress.bedrockEndpoint: .*offered in \['us-west-1z'\]")):
        run("prod", stack_config("prod"))
    not_offered = Exception("no matching EC2 VPC Endpoint Service found")
    with (mock.patch("components.egress_controls.aws.ec2.get_vpc_endpoint_service", side_effect=not_offered),
          pytest.raises(Exception, match=r"egress.bedrockEndpoint: .*bedrock-runtime is not offered here")):
        run("prod", stack_config("prod"))


def test_the_plan_states_the_egress_mode_and_prices_it() -> None:
    for stack, path, endpoint_zones in (("dev", "NAT instance", 0), ("prod", "interface endpoint", 2)):
        graph = planned(stack)
        bill = estimate(graph, settings_of(graph)).as_dict()
        egress = egress_of(graph, bill)
        assert egress["mode"] == "allow-list" and egress["bedrock_path"] == path
        items = {line["item"]: line for line in bill["lines"]}
        firewall_cost = items["DNS Firewall queries"]["monthly"] + items["DNS Firewall domain names"]["monthly"]
        endpoint_cost = round(endpoint_zones * 730 * 0.01, 2)
        assert egress["monthly"] == pytest.approx(firewall_cost + endpoint_cost)
        assert items["DNS Firewall domain names"]["quantity"] == egress["allowed_names"] + 1, "the list and '*'"
