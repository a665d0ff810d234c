"""Edge: CloudFront is the only way in, the ALB routes by path, /metrics is unreachable, streams survive."""

from __future__ import annotations

import re

import pytest

from components.gateway import CLOUDFRONT_ORIGIN_FACING, ORIGIN_VERIFY_HEADER
from offline.engine import Graph, Resource, run, run_into, stack_config
from settings import SettingsError
from tests.stacks import run_with

DOMAIN = {"name": "llm.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
RULE = "aws:lb/listenerRule:ListenerRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


@pytest.fixture(scope="module")
def public_with_domain() -> Graph:
    """An internet-facing ALB behind HTTPS (a domain), the one public-alb shape without an opt-in."""
    return run_with("dev", edge={"originMode": "public-alb", "domain": DOMAIN})


@pytest.fixture(scope="module")
def public_plaintext() -> Graph:
    return run_with("dev", edge={"originMode": "public-alb", "allowPlaintextOrigin": True})


@pytest.fixture(scope="module")
def prod_with_domain() -> Graph:
    return run_with("prod", edge={"domain": DOMAIN})


@pytest.fixture(params=["dev", "prod", "public_with_domain", "prod_with_domain"], scope="module")
def any_edge(request: pytest.FixtureRequest) -> Graph:
    return request.getfixturevalue(request.param)


def distribution(graph: Graph) -> Resource:
    return graph.one(DISTRIBUTION)


def origin_header(graph: Graph) -> str:
    (origin,) = distribution(graph).inputs["origins"]
    (header,) = origin["customHeaders"]
    assert header["name"] == ORIGIN_VERIFY_HEADER
    return header["value"]


def _matches(pattern: str, path: str) -> bool:
    """ALB path patterns: case-sensitive, `*` any run of characters, `?` one character."""
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), path) is not None


def alb_answer(graph: Graph, path: str, headers: dict[str, str]) -> str:
    """What the ALB does with a request: the first rule by priority whose conditions all hold, else default."""
    for rule in sorted(graph.of_type(RULE), key=lambda r: r.inputs["priority"]):
        conditions = rule.inputs["conditions"]
        header_ok = all(headers.get(c["httpHeader"]["httpHeaderName"]) in c["httpHeader"]["values"]
                        for c in conditions if "httpHeader" in c)
        path_ok = all(any(_matches(p, path) for p in c["pathPattern"]["values"])
                      for c in conditions if "pathPattern" in c)
        if header_ok and path_ok:
            action = rule.inputs["actions"][0]
            if action["type"] == "forward":
                group = next(g for g in graph.of_type("aws:lb/targetGroup:TargetGroup")
                             if g.outputs["arn"] == action["targetGroupArn"])
                return f"forward:{group.inputs['port']}"
            return f"fixed:{action['fixedResponse']['statusCode']}"
    (listener,) = graph.of_type("aws:lb/listener:Listener")
    return f"fixed:{listener.inputs['defaultActions'][0]['fixedResponse']['statusCode']}"


def via_cloudfront(graph: Graph, path: str) -> str:
    """A request from the internet: CloudFront adds the origin header to everything it forwards."""
    return alb_answer(graph, path, {ORIGIN_VERIFY_HEADER: origin_header(graph)})


LITELLM_PATHS = ["/v1/chat/completions", "/v1/messages", "/v1/messages/count_tokens", "/v1/models", "/chat/completions",
                 "/key/generate", "/user/new", "/team/new", "/budget/new", "/model/info", "/ui", "/ui/",
                 "/health/liveliness", "/"]
GRAFANA_PATHS = ["/grafana", "/grafana/", "/grafana/d/llm/overview", "/grafana/public/build/app.js",
                 "/grafana/api/health"]
METRICS_PATHS = ["/metrics", "/metrics/", "/metrics/anything"]


def test_no_path_from_the_internet_reaches_metrics(any_edge: Graph) -> None:
    for path in METRICS_PATHS:
        assert via_cloudfront(any_edge, path) == "fixed:404", path
        assert alb_answer(any_edge, path, {}) == "fixed:403", path


def test_the_api_and_admin_api_reach_litellm(any_edge: Graph) -> None:
    for path in LITELLM_PATHS:
        assert via_cloudfront(any_edge, path) == "forward:4000", path


def test_grafana_paths_reach_grafana(any_edge: Graph) -> None:
    for path in GRAFANA_PATHS:
        assert via_cloudfront(any_edge, path) == "forward:3000", path
    assert via_cloudfront(any_edge, "/grafanax") == "forward:4000"


def slot_values(graph: Graph) -> dict[str, str]:
    return {slot: graph.one("random:index/randomPassword:RandomPassword", f"origin-verify-{slot}").outputs["result"]
            for slot in ("even", "odd")}


def test_every_forward_rule_requires_the_origin_secret(any_edge: Graph) -> None:
    """The current value and the previous one (still accepted while CloudFront switches after a rotation)."""
    accepted = sorted(slot_values(any_edge).values())
    for rule in any_edge.of_type(RULE):
        headers = [c["httpHeader"] for c in rule.inputs["conditions"] if "httpHeader" in c]
        assert [(h["httpHeaderName"], sorted(h["values"])) for h in headers] == [(ORIGIN_VERIFY_HEADER, accepted)]
        assert "conditions" in rule.secret_inputs, "the header value must stay a Pulumi secret"
    for path in LITELLM_PATHS + GRAFANA_PATHS:
        assert alb_answer(any_edge, path, {ORIGIN_VERIFY_HEADER: "guess"}) == "fixed:403"


def test_origin_secret_is_generated_and_kept_in_secrets_manager(dev: Graph) -> None:
    current = slot_values(dev)["odd"]  # version 1 is odd
    assert len(current) >= 32
    version = dev.one("aws:secretsmanager/secretVersion:SecretVersion", "origin-verify")
    assert version.inputs["secretString"] == origin_header(dev) == current
    assert "secretString" in version.secret_inputs
    assert "origins" in distribution(dev).secret_inputs


def test_one_setting_bump_rotates_the_origin_secret_without_downtime(dev: Graph) -> None:
    """Version 2: the even slot gets a new value and CloudFront sends it; the odd slot, the value CloudFront sent
    until now, is untouched and the ALB still accepts it while the distribution deploys; the rules are updated
    before the distribution."""
    before = slot_values(dev)
    rotated = run_with("dev", edge={"originSecretVersion": 2})
    after = slot_values(rotated)
    assert after["odd"] == before["odd"] and after["even"] != before["even"]
    assert origin_header(rotated) == after["even"]
    for rule in rotated.of_type(RULE):
        (header,) = [c["httpHeader"] for c in rule.inputs["conditions"] if "httpHeader" in c]
        assert sorted(header["values"]) == sorted([after["even"], before["odd"]])
        assert rule.urn in distribution(rotated).dependencies
    assert slot_values(run_with("dev", edge={"originSecretVersion": 3}))["even"] == after["even"]


def test_alb_admits_only_cloudfront_on_the_listener_port(any_edge: Graph) -> None:
    group_id = any_edge.id_of(any_edge.one("aws:ec2/securityGroup:SecurityGroup", "alb-sg"))
    (ingress,) = [r for r in any_edge.of_type(INGRESS) if r.inputs["securityGroupId"] == group_id]
    (listener,) = any_edge.of_type("aws:lb/listener:Listener")
    assert ingress.inputs["prefixListId"] == "pl-82a045da" and "cidrIpv4" not in ingress.inputs
    assert ingress.inputs["fromPort"] == ingress.inputs["toPort"] == listener.inputs["port"]
    (lookup,) = [a for t, a in any_edge.invokes if t == "aws:ec2/getManagedPrefixList:getManagedPrefixList"]
    assert lookup["name"] == CLOUDFRONT_ORIGIN_FACING
    assert not [r for r in any_edge.of_type(INGRESS) if r.inputs.get("cidrIpv4") in ("0.0.0.0/0", "::/0")]


def test_alb_survives_long_streams_and_drops_bad_headers(dev: Graph, prod: Graph) -> None:
    for graph, protected in ((dev, False), (prod, True)):
        balancer = graph.one("aws:lb/loadBalancer:LoadBalancer")
        assert balancer.inputs["idleTimeout"] >= 300
        assert balancer.inputs["dropInvalidHeaderFields"] is True
        assert balancer.inputs["enableDeletionProtection"] is protected


def test_target_groups_check_the_right_health_paths(dev: Graph, prod: Graph) -> None:
    for graph, delay in ((dev, 15), (prod, 300)):
        groups = {g.inputs["port"]: g for g in graph.of_type("aws:lb/targetGroup:TargetGroup")}
        assert {p: g.inputs["healthCheck"]["path"] for p, g in groups.items()} == {
            4000: "/health/liveliness", 3000: "/grafana/api/health"}
        # Only 200 is healthy: both paths answer 200 when the service works, and a 401, 404 or 5xx from a broken
        # or misrouted task must take it out of service.
        assert {g.inputs["healthCheck"]["matcher"] for g in groups.values()} == {"200"}
        assert all(g.inputs["targetType"] == "ip" and g.inputs["deregistrationDelay"] == delay
                   for g in groups.values())


def test_api_behaviour_passes_everything_and_caches_nothing(any_edge: Graph) -> None:
    behavior = distribution(any_edge).inputs["defaultCacheBehavior"]
    assert set(behavior["allowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert behavior["cachePolicyId"] == "cache-Managed-CachingDisabled"
    # Every viewer header but Host: Authorization, x-api-key, anthropic-version and anthropic-beta included.
    assert behavior["originRequestPolicyId"] == "origin-Managed-AllViewerExceptHostHeader"
    assert behavior["compress"] is False
    assert behavior["viewerProtocolPolicy"] == "redirect-to-https"


def test_managed_policies_are_looked_up_by_name(dev: Graph) -> None:
    names = {a["name"] for t, a in dev.invokes if t.startswith("aws:cloudfront/get")}
    assert names == {"Managed-CachingDisabled", "Managed-CachingOptimized", "Managed-AllViewerExceptHostHeader"}


def test_grafana_static_files_are_cached_and_the_rest_is_not(dev: Graph) -> None:
    behaviors = {b["pathPattern"]: b for b in distribution(dev).inputs["orderedCacheBehaviors"]}
    assert list(behaviors) == ["/grafana/public/*", "/grafana/*"], "order matters: first match wins"
    assert behaviors["/grafana/public/*"]["cachePolicyId"] == "cache-Managed-CachingOptimized"
    assert behaviors["/grafana/*"]["cachePolicyId"] == "cache-Managed-CachingDisabled"
    assert "POST" in behaviors["/grafana/*"]["allowedMethods"]
    assert all(b["compress"] for b in behaviors.values()), "Grafana's scripts and pages go out compressed"


def test_origin_waits_for_slow_first_tokens(any_edge: Graph) -> None:
    (origin,) = distribution(any_edge).inputs["origins"]
    config = origin.get("vpcOriginConfig") or origin["customOriginConfig"]
    assert config["originReadTimeout"] >= 60 and config["originKeepaliveTimeout"] == 60


def test_read_timeout_is_configurable_to_the_quota_maximum() -> None:
    graph = run_with("dev", edge={"originMode": "public-alb", "domain": DOMAIN, "originReadTimeoutSeconds": 180})
    (origin,) = distribution(graph).inputs["origins"]
    assert origin["customOriginConfig"]["originReadTimeout"] == 180


def test_public_alb_mode_faces_the_internet_only_through_its_group(public_plaintext: Graph) -> None:
    graph = public_plaintext
    balancer = graph.one("aws:lb/loadBalancer:LoadBalancer")
    public = {graph.id_of(s) for s in graph.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["Tier"] == "public"}
    assert balancer.inputs["internal"] is False and set(balancer.inputs["subnets"]) == public
    assert not graph.of_type("aws:cloudfront/vpcOrigin:VpcOrigin")
    (origin,) = distribution(graph).inputs["origins"]
    assert origin["domainName"] == balancer.outputs["dnsName"]
    assert origin["customOriginConfig"]["originProtocolPolicy"] == "http-only"


def test_no_stack_has_a_plaintext_internet_leg_unless_opted_in(dev: Graph, prod: Graph) -> None:
    """Without a domain, public-alb means CloudFront -> ALB in plain HTTP across the internet: bearer keys,
    prompts and the origin secret readable on the way. Every stack defaults to the VPC origin instead."""
    for graph in (dev, prod):
        assert graph.one("aws:lb/loadBalancer:LoadBalancer").inputs["internal"] is True
        (origin,) = distribution(graph).inputs["origins"]
        assert "vpcOriginConfig" in origin
    with pytest.raises(SettingsError, match=r"edge.originMode: public-alb without edge.domain .* plain HTTP"):
        run_with("dev", edge={"originMode": "public-alb"})


def test_vpc_origin_mode_keeps_the_alb_off_the_internet(prod: Graph) -> None:
    balancer = prod.one("aws:lb/loadBalancer:LoadBalancer")
    private = {prod.id_of(s) for s in prod.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["Tier"] == "private"}
    assert balancer.inputs["internal"] is True and set(balancer.inputs["subnets"]) == private
    vpc_origin = prod.one("aws:cloudfront/vpcOrigin:VpcOrigin")
    assert vpc_origin.inputs["vpcOriginEndpointConfig"]["arn"] == balancer.outputs["arn"]
    (origin,) = distribution(prod).inputs["origins"]
    assert origin["vpcOriginConfig"]["vpcOriginId"] == prod.id_of(vpc_origin)
    assert "customOriginConfig" not in origin
    assert prod.of_type("aws:ec2/internetGateway:InternetGateway"), "VPC origins need an internet gateway"


def test_without_a_domain_viewers_use_the_cloudfront_certificate(dev: Graph) -> None:
    assert distribution(dev).inputs["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    assert dev.one("aws:lb/listener:Listener").inputs["protocol"] == "HTTP"
    assert not dev.of_type("aws:acm/certificate:Certificate")
    assert dev.outputs["gatewayUrl"] == "https://d111111abcdef8.cloudfront.net"


@pytest.mark.parametrize("variant", ["public_with_domain", "prod_with_domain"])
def test_a_custom_domain_encrypts_both_legs(variant: str, request: pytest.FixtureRequest) -> None:
    graph: Graph = request.getfixturevalue(variant)
    certificates = {c.inputs["domainName"]: c for c in graph.of_type("aws:acm/certificate:Certificate")}
    assert set(certificates) == {"llm.example.com", "origin.llm.example.com"}
    assert graph.provider_of(certificates["llm.example.com"]).inputs["region"] == "us-east-1"
    assert graph.provider_of(certificates["origin.llm.example.com"]).inputs["region"] == "us-west-1"
    viewer = distribution(graph).inputs["viewerCertificate"]
    assert viewer["minimumProtocolVersion"] == "TLSv1.2_2021" and viewer["sslSupportMethod"] == "sni-only"
    assert distribution(graph).inputs["aliases"] == ["llm.example.com"]
    listener = graph.one("aws:lb/listener:Listener")
    assert (listener.inputs["protocol"], listener.inputs["port"]) == ("HTTPS", 443)
    assert listener.inputs["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    (origin,) = distribution(graph).inputs["origins"]
    assert origin["domainName"] == "origin.llm.example.com"
    config = origin.get("customOriginConfig") or graph.one("aws:cloudfront/vpcOrigin:VpcOrigin").inputs[
        "vpcOriginEndpointConfig"]
    assert config["originProtocolPolicy"] == "https-only"
    # CloudFront speaks to the origin with TLS 1.2 only (SSLv3, TLS 1.0 and 1.1 are its other choices).
    protocols = config["originSslProtocols"]
    assert (protocols["items"] if isinstance(protocols, dict) else protocols) == ["TLSv1.2"]
    records = {(r.inputs["name"], r.inputs["type"]) for r in graph.of_type("aws:route53/record:Record")
               if r.inputs.get("aliases")}
    assert records == {("llm.example.com", "A"), ("llm.example.com", "AAAA"), ("origin.llm.example.com", "A")}
    assert graph.outputs["gatewayUrl"] == "https://llm.example.com"
    assert graph.outputs["grafanaUrl"] == "https://llm.example.com/grafana/"


def test_waf_guards_prod_in_us_east_1(prod: Graph) -> None:
    acl = prod.one("aws:wafv2/webAcl:WebAcl")
    assert acl.inputs["scope"] == "CLOUDFRONT"
    assert prod.provider_of(acl).inputs["region"] == "us-east-1"
    assert distribution(prod).inputs["webAclId"] == acl.outputs["arn"]
    rules = {r["name"]: r for r in acl.inputs["rules"]}
    # 100 people behind one address (Pulumi.prod.yaml) x 60 requests per person per 5 minutes.
    assert rules["rate-limit-per-ip"]["statement"]["rateBasedStatement"] == {"limit": 6000, "aggregateKeyType": "IP"}
    assert rules["rate-limit-per-ip"]["action"] == {"block": {}}, "a rule that counts only records the flood"
    common = rules["AWSManagedRulesCommonRuleSet"]["statement"]["managedRuleGroupStatement"]
    counted = {o["name"] for o in common["ruleActionOverrides"]}
    assert "SizeRestrictions_BODY" in counted, "prompts are larger than the rule set's 8 KB body limit"


def test_no_waf_in_dev(dev: Graph) -> None:
    assert not dev.of_type("aws:wafv2/webAcl:WebAcl")
    assert not distribution(dev).inputs.get("webAclId")


def test_vpc_origin_mode_avoids_the_zone_cloudfront_does_not_serve(prod: Graph) -> None:
    """"Restrict access with VPC origins": us-west-1 supports VPC origins "except AZ usw1-az2". The mock region
    maps us-west-1b to usw1-az2."""
    zones = {s.inputs["availabilityZone"] for s in prod.of_type("aws:ec2/subnet:Subnet")}
    assert zones == {"us-west-1a", "us-west-1c"}


def test_vpc_origin_mode_is_refused_where_it_cannot_work() -> None:
    """Only two zones, one of them without VPC origins: the ALB would need two; the error names the setting."""
    graph = Graph(stack="prod", resources=[], invokes=[], outputs={})
    with pytest.raises(ValueError, match=r"network.azCount = 2: .*usw1-az2 left out: .*edge.originMode: vpc-origin"):
        run_into(graph, stack_config("prod"), availability_zones=2)
    with pytest.raises(SettingsError, match=r"edge.originMode: CloudFront VPC origins are not offered in cn-north-1"):
        run("prod", {**stack_config("prod"), "aws:region": "cn-north-1"})
    with pytest.raises(SettingsError, match=r"edge.originReadTimeoutSeconds: 150 is over a VPC origin's maximum"):
        run_with("prod", edge={"originReadTimeoutSeconds": 150})


def test_a_changed_vpc_origin_is_replaced_not_updated_in_place(prod: Graph) -> None:
    """AWS answers 409 to updating a VPC origin a distribution uses; a replacement created before the old one is
    deleted needs a name of its own, and deploying one may take 15 minutes (the provider's default timeout)."""
    origin = prod.one("aws:cloudfront/vpcOrigin:VpcOrigin")
    assert origin.options["replaceOnChanges"] == ["vpcOriginEndpointConfig"]
    assert origin.options["deleteBeforeReplace"] is False
    assert all(int(v.rstrip("m")) >= 30 for v in origin.options["customTimeouts"].values())
    with_domain = run_with("prod", edge={"domain": DOMAIN}).one("aws:cloudfront/vpcOrigin:VpcOrigin")
    assert with_domain.inputs["vpcOriginEndpointConfig"]["name"] != origin.inputs["vpcOriginEndpointConfig"]["name"]


# VPC User Guide, "AWS-managed prefix lists": com.amazonaws.global.cloudfront.origin-facing weighs 55 rules;
# "Amazon VPC quotas": 60 inbound rules per security group.
CLOUDFRONT_PREFIX_LIST_WEIGHT = 55
INBOUND_RULES_PER_GROUP = 60


def test_the_alb_group_stays_within_the_inbound_rule_quota(any_edge: Graph) -> None:
    group = any_edge.id_of(any_edge.one("aws:ec2/securityGroup:SecurityGroup", "-alb-sg"))
    inbound = [r for r in any_edge.of_type(INGRESS) if r.inputs["securityGroupId"] == group]
    weight = sum(CLOUDFRONT_PREFIX_LIST_WEIGHT if r.inputs.get("prefixListId") else 1 for r in inbound)
    assert weight <= INBOUND_RULES_PER_GROUP


def test_target_groups_are_replaced_with_their_load_balancer(any_edge: Graph) -> None:
    """A target group serves one load balancer: switching edge.originMode replaces the ALB (`internal` forces it),
    and its new listener rules could not forward to target groups the old one still uses."""
    balancer = any_edge.one("aws:lb/loadBalancer:LoadBalancer")
    for group in any_edge.of_type("aws:lb/targetGroup:TargetGroup"):
        assert group.options["replaceWith"] == [balancer.urn]


def test_the_distribution_serves_viewers_on_ipv4_and_ipv6(any_edge: Graph) -> None:
    """A disabled distribution answers nothing; IPv6 viewers (the edge function's allow lists take IPv6 ranges) reach
    it only with IPv6 on."""
    distribution = any_edge.one("aws:cloudfront/distribution:Distribution").inputs
    assert distribution["enabled"] is True and distribution["isIpv6Enabled"] is True
