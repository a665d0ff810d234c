"""Network: subnets, routes through the NAT ENI, HTTPS-only egress, a self-healing NAT instance, flow logs."""

from __future__ import annotations

import base64
import ipaddress
import json
from unittest import mock

from pulumi.runtime import mocks

from components.network import FCK_NAT_OWNER, plan_subnets
from offline.engine import Graph, RecordingEngine, Resource, run
from tests.stacks import planned, run_with

SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


def subnets(graph: Graph, tier: str) -> list[Resource]:
    return [s for s in graph.of_type(SUBNET) if s.inputs["tags"]["Tier"] == tier]


def routes_of(graph: Graph, table: Resource) -> list[Resource]:
    return [r for r in graph.of_type(ROUTE) if r.inputs["routeTableId"] == graph.id_of(table)]


def table_of(graph: Graph, subnet: Resource) -> Resource:
    (association,) = [a for a in graph.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
                      if a.inputs["subnetId"] == graph.id_of(subnet)]
    return next(t for t in graph.of_type("aws:ec2/routeTable:RouteTable")
                if graph.id_of(t) == association.inputs["routeTableId"])


def nat_eni(graph: Graph) -> Resource:
    return graph.one("aws:ec2/networkInterface:NetworkInterface", "-nat")


def test_vpc_resolves_names(stack: Graph) -> None:
    vpc = stack.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["enableDnsSupport"] and vpc.inputs["enableDnsHostnames"]


def test_subnets_are_inside_the_vpc_apart_and_leave_room(dev: Graph) -> None:
    vpc = ipaddress.ip_network(dev.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"])
    cidrs = [ipaddress.ip_network(s.inputs["cidrBlock"]) for s in dev.of_type(SUBNET)]
    assert all(c.subnet_of(vpc) for c in cidrs)
    assert not any(a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1:])
    used = sum(c.num_addresses for c in cidrs)
    assert used <= vpc.num_addresses // 4, "at least three quarters of the VPC stay free for growth"
    assert {s.inputs["cidrBlock"] for s in subnets(dev, "public")} == {"10.10.0.0/20", "10.10.16.0/20"}
    assert {s.inputs["cidrBlock"] for s in subnets(dev, "private")} == {"10.10.128.0/20", "10.10.144.0/20"}


def test_plan_subnets_scales_to_the_smallest_vpc() -> None:
    public, private = plan_subnets("192.168.5.0/24", 3)
    assert public == ["192.168.5.0/28", "192.168.5.16/28", "192.168.5.32/28"]
    assert private == ["192.168.5.128/28", "192.168.5.144/28", "192.168.5.160/28"]


def test_each_tier_spreads_over_distinct_zones(stack: Graph) -> None:
    for tier in ("public", "private"):
        zones = [s.inputs["availabilityZone"] for s in subnets(stack, tier)]
        assert len(zones) == len(set(zones)) == 2


def test_three_zones_when_asked() -> None:
    graph = run_with("dev", network={"azCount": 3}, edge={"originMode": "public-alb", "allowPlaintextOrigin": True})
    assert sorted(s.inputs["availabilityZone"] for s in subnets(graph, "private")) == [
        "us-west-1a", "us-west-1b", "us-west-1c"]


def test_no_subnet_hands_out_public_addresses(stack: Graph) -> None:
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in stack.of_type(SUBNET))


def test_public_subnets_route_to_the_internet_gateway(stack: Graph) -> None:
    igw = stack.one("aws:ec2/internetGateway:InternetGateway")
    for subnet in subnets(stack, "public"):
        (route,) = routes_of(stack, table_of(stack, subnet))
        assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        assert route.inputs["gatewayId"] == stack.id_of(igw)


def test_private_subnets_route_only_through_the_nat_eni(stack: Graph) -> None:
    igw_id = stack.id_of(stack.one("aws:ec2/internetGateway:InternetGateway"))
    for subnet in subnets(stack, "private"):
        (route,) = routes_of(stack, table_of(stack, subnet))
        assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        assert route.inputs["networkInterfaceId"] == stack.id_of(nat_eni(stack))
        assert route.inputs.get("gatewayId") != igw_id


def test_nat_eni_forwards_and_egress_keeps_a_fixed_public_address(stack: Graph) -> None:
    """fck-nat masquerades out of the instance's primary interface and puts `eip_id` on it (service/fck-nat.sh):
    the Elastic IP is the egress address only if fck-nat is given it, not if it sits on the static ENI."""
    eni = nat_eni(stack)
    assert eni.inputs["sourceDestCheck"] is False
    assert eni.inputs["subnetId"] in {stack.id_of(s) for s in subnets(stack, "public")}
    eip = stack.one("aws:ec2/eip:Eip")
    assert eip.inputs["domain"] == "vpc" and "networkInterface" not in eip.inputs
    user_data = base64.b64decode(stack.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["userData"]).decode()
    assert f'associate-address --region "$region" --allocation-id {eip.outputs["allocationId"]}' in user_data
    assert '--network-interface-id "$primary" --allow-reassociation' in user_data
    assert stack.outputs["egressIp"] == eip.outputs["publicIp"]


def test_nat_instance_heals_itself_next_to_its_eni(stack: Graph) -> None:
    group = stack.one("aws:autoscaling/group:Group")
    template = stack.one("aws:ec2/launchTemplate:LaunchTemplate")
    assert (group.inputs["minSize"], group.inputs["maxSize"], group.inputs["desiredCapacity"]) == (1, 1, 1)
    assert group.inputs["vpcZoneIdentifiers"] == [nat_eni(stack).inputs["subnetId"]]
    assert group.inputs["launchTemplate"]["id"] == stack.id_of(template)
    user_data = base64.b64decode(template.inputs["userData"]).decode()
    assert f"eni_id={stack.id_of(nat_eni(stack))}" in user_data


def test_nat_instance_requires_imdsv2_on_graviton(dev: Graph, prod: Graph) -> None:
    for graph, size in ((dev, "t4g.nano"), (prod, "t4g.micro")):
        template = graph.one("aws:ec2/launchTemplate:LaunchTemplate")
        assert template.inputs["instanceType"] == size
        assert template.inputs["metadataOptions"]["httpTokens"] == "required"
        assert template.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
        assert template.inputs["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"


def test_nat_ami_is_looked_up_unless_given(dev: Graph) -> None:
    (lookup,) = [args for token, args in dev.invokes if token == "aws:ec2/getAmi:getAmi"]
    assert lookup["owners"] == [FCK_NAT_OWNER]
    assert {"name": "architecture", "values": ["arm64"]} in lookup["filters"]
    pinned = run_with("dev", network={"natAmiId": "ami-0123456789abcdef0"})
    assert pinned.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["imageId"] == "ami-0123456789abcdef0"
    assert not [t for t, _ in pinned.invokes if t == "aws:ec2/getAmi:getAmi"]


def test_nat_role_touches_only_its_own_instance_interfaces_and_address(stack: Graph) -> None:
    policy = json.loads(stack.one("aws:iam/rolePolicy:RolePolicy", "nat-eni").inputs["policy"])
    eip = stack.one("aws:ec2/eip:Eip").outputs["allocationId"]
    for statement in policy["Statement"]:
        assert all("*" not in action for action in statement["Action"])
        assert statement.get("Condition") or statement["Resource"] == [
            f"arn:aws:ec2:us-west-1:123456789012:elastic-ip/{eip}"], f"{statement['Sid']} is not scoped"


def nat_scope(graph: Graph) -> str:
    policy = json.loads(graph.one("aws:iam/rolePolicy:RolePolicy", "nat-eni").inputs["policy"])
    (value,) = {v for s in policy["Statement"] for v in s.get("Condition", {}).get("StringEquals", {}).values()}
    return value


def test_the_nat_roles_tag_is_carried_by_its_own_stacks_nat_only(dev: Graph, prod: Graph) -> None:
    """Two stacks in one account (the mocks share one): each NAT role may touch what carries its stack's tag, its
    ENI and the instances its template launches, and no other stack's NAT carries that tag."""
    for graph in (dev, prod):
        scope = nat_scope(graph)
        assert nat_eni(graph).inputs["tags"]["NatInstance"] == scope
        launched = graph.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["tagSpecifications"]
        assert {spec["resourceType"]: spec["tags"]["NatInstance"] for spec in launched} == {
            "instance": scope, "volume": scope, "network-interface": scope}
    assert nat_scope(dev) != nat_scope(prod)


def test_a_nat_refresh_never_runs_two_instances_for_its_one_interface(stack: Graph) -> None:
    """The static ENI attaches to one instance, so an instance refresh must not launch a replacement first.
    botocore's autoscaling model (RefreshPreferences.MaxHealthyPercentage): when the two bounds cannot both be
    honoured, Auto Scaling launches before it terminates, and pulumi-aws always sends the maximum (default 100).
    With a group of one, any minimum over 0 cannot be honoured while the old instance goes; 0 can."""
    group = stack.one("aws:autoscaling/group:Group")
    preferences = group.inputs["instanceRefresh"]["preferences"]
    assert preferences["minHealthyPercentage"] == 0 and preferences.get("maxHealthyPercentage", 100) <= 100
    assert group.inputs["maxSize"] == 1


def rules_of(graph: Graph, kind: str, group: Resource) -> list[Resource]:
    return [r for r in graph.of_type(kind) if r.inputs["securityGroupId"] == graph.id_of(group)]


def test_nat_static_eni_admits_https_from_private_subnets_only(stack: Graph) -> None:
    group = stack.one("aws:ec2/securityGroup:SecurityGroup", "-nat-eni")
    assert nat_eni(stack).inputs["securityGroups"] == [stack.id_of(group)]
    ingress = rules_of(stack, INGRESS, group)
    assert {r.inputs["cidrIpv4"] for r in ingress} == {s.inputs["cidrBlock"] for s in subnets(stack, "private")}
    assert all((r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"]) == ("tcp", 443, 443)
               for r in ingress)
    assert not rules_of(stack, EGRESS, group), "the static ENI only receives: replies leave by the primary"


def test_nat_primary_interface_sends_https_out_and_replies_back(stack: Graph) -> None:
    """Security groups track per interface: the primary never saw the request that came in on the static ENI, so it
    must admit the de-NATed reply as egress to the private subnets' ephemeral ports."""
    group = stack.one("aws:ec2/securityGroup:SecurityGroup", "-net-nat")
    (interface,) = stack.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["networkInterfaces"]
    assert interface["securityGroups"] == [stack.id_of(group)]
    assert not rules_of(stack, INGRESS, group), "nothing may open a connection to the instance"
    egress = {(r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"], r.inputs.get("cidrIpv4"))
              for r in rules_of(stack, EGRESS, group) if r.inputs.get("cidrIpv4")}
    assert egress == {("tcp", 443, 443, "0.0.0.0/0")} | {
        ("tcp", 1024, 65535, s.inputs["cidrBlock"]) for s in subnets(stack, "private")}


def comparable(value: object) -> object:
    """Inputs as the engine compares them: assets by content (the SDK's asset objects have no equality)."""
    if hasattr(value, "assets"):
        return {name: comparable(asset) for name, asset in value.assets.items()}
    return getattr(value, "text", value)


def test_a_new_fck_nat_ami_alone_changes_nothing(dev_config: dict[str, str]) -> None:
    """fck-nat republishes every January and July: a newer lookup result must not replace the NAT on an unrelated
    `pulumi up` (the launch template ignores it); pinning `network.natAmiId` is the deliberate bump."""
    newer = {"id": "ami-0fcknat0000newer", "architecture": "arm64"}
    original_call = RecordingEngine.call

    def newer_ami(self: RecordingEngine, args: mocks.MockCallArgs) -> dict:
        return newer if args.token == "aws:ec2/getAmi:getAmi" else original_call(self, args)

    with mock.patch.object(RecordingEngine, "call", newer_ami):
        republished = run("dev", dev_config)
    before = {r.urn: r for r in planned("dev").resources}
    changed = {(r.urn, key) for r in republished.resources for key in r.inputs
               if comparable(r.inputs[key]) != comparable(before[r.urn].inputs.get(key))}
    template = republished.one("aws:ec2/launchTemplate:LaunchTemplate")
    ignored = {(r.urn, key) for r in republished.resources for key in r.options["ignoreChanges"]}
    assert (template.urn, "imageId") in changed, "the lookup's answer reaches the template"
    assert changed <= ignored, f"a newer AMI would change {changed - ignored}"
    assert template.options["ignoreChanges"] == ["imageId"]
    pinned = run_with("dev", network={"natAmiId": "ami-0123456789abcdef0"})
    assert pinned.one("aws:ec2/launchTemplate:LaunchTemplate").options["ignoreChanges"] == []


def test_egress_leaves_the_vpc_only_as_https(stack: Graph) -> None:
    vpc = ipaddress.ip_network(stack.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"])
    leaving = [r for r in stack.of_type(EGRESS)
               if r.inputs.get("cidrIpv4") and not ipaddress.ip_network(r.inputs["cidrIpv4"]).subnet_of(vpc)]
    assert leaving, "the NAT group must have an explicit egress rule"
    assert all((r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"]) == ("tcp", 443, 443)
               for r in leaving)
    nat_group_id = stack.id_of(stack.one("aws:ec2/securityGroup:SecurityGroup", "-nat"))
    assert nat_group_id in {r.inputs["securityGroupId"] for r in leaving}
    for group in stack.of_type("aws:ec2/securityGroup:SecurityGroup"):
        assert not group.inputs.get("egress") and not group.inputs.get("ingress"), "rules live in rule resources"


def test_default_security_group_is_emptied(stack: Graph) -> None:
    default = stack.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert not default.inputs.get("ingress") and not default.inputs.get("egress")


def test_vpc_flow_logs_are_kept_for_the_stack_retention(dev: Graph, prod: Graph) -> None:
    for graph, days in ((dev, 14), (prod, 90)):
        flow_log = graph.one("aws:ec2/flowLog:FlowLog")
        logs = graph.one("aws:cloudwatch/logGroup:LogGroup", "flow-logs")
        assert flow_log.inputs["vpcId"] == graph.id_of(graph.one("aws:ec2/vpc:Vpc"))
        assert flow_log.inputs["trafficType"] == "ALL"
        assert flow_log.inputs["logDestination"] == logs.outputs["arn"]
        assert logs.inputs["retentionInDays"] == days
        trust = json.loads(graph.one("aws:iam/role:Role", "flow-logs").inputs["assumeRolePolicy"])
        assert trust["Statement"][0]["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}


def test_s3_stays_off_the_nat(stack: Graph) -> None:
    endpoint = stack.one("aws:ec2/vpcEndpoint:VpcEndpoint", "-s3")
    private_table = table_of(stack, subnets(stack, "private")[0])
    assert endpoint.inputs["routeTableIds"] == [stack.id_of(private_table)]


def test_outputs_name_the_network(dev: Graph) -> None:
    assert dev.outputs["vpcId"] == dev.id_of(dev.one("aws:ec2/vpc:Vpc"))
    assert dev.outputs["natEniId"] == dev.id_of(nat_eni(dev))
