"""The VPC twin reads every shape a plan can use for security group rules and routes, and names what it does not
read (runs without root: this is the model the twin builds, not the namespaces)."""

from __future__ import annotations

from typing import Any

from offline.engine import Graph, Resource
from tests.stacks import planned
from tests.twin.model import Route, Rule, route_tables, security_groups
from tests.twin.plan import build_model


def resource(type_: str, name: str, **inputs: Any) -> Resource:
    return Resource(urn=f"urn:{type_}::{name}", type=type_, name=name, inputs=inputs,
                    outputs={"id": f"{name}-id", **inputs}, parent="", provider="", custom=True, protect=False)


def test_every_rule_shape_is_read() -> None:
    graph = Graph("probe", [
        resource("aws:ec2/securityGroup:SecurityGroup", "web", ingress=[
            {"protocol": "6", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.0.0/8"],
             "securityGroups": ["db-id"], "self": True, "prefixListIds": ["pl-1"]}],
            egress=[{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]),
        resource("aws:ec2/securityGroup:SecurityGroup", "db"),
        resource("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "db-in", securityGroupId="db-id",
                 ipProtocol="tcp", fromPort=5432, toPort=5432, referencedSecurityGroupId="web-id"),
        resource("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "db-out", securityGroupId="db-id",
                 ipProtocol="-1", cidrIpv4="10.1.0.0/16"),
        resource("aws:ec2/securityGroupRule:SecurityGroupRule", "legacy", type="ingress", securityGroupId="db-id",
                 protocol="udp", fromPort=53, toPort=53, sourceSecurityGroupId="web-id"),
    ], [], {})
    groups = security_groups(graph)
    assert groups["web-id"].ingress == [Rule("tcp", (443, 443), cidr="10.0.0.0/8"),
                                        Rule("tcp", (443, 443), prefix_list="pl-1"),
                                        Rule("tcp", (443, 443), group_id="db-id"),
                                        Rule("tcp", (443, 443), group_id="web-id")]
    assert groups["web-id"].egress == [Rule("all", (0, 65535), cidr="0.0.0.0/0")]
    assert groups["db-id"].ingress == [Rule("tcp", (5432, 5432), group_id="web-id"),
                                       Rule("udp", (53, 53), group_id="web-id")]
    assert groups["db-id"].egress == [Rule("all", (0, 65535), cidr="10.1.0.0/16")]


def test_every_route_shape_is_read_and_an_unknown_target_is_kept_as_such() -> None:
    graph = Graph("probe", [
        resource("aws:ec2/internetGateway:InternetGateway", "igw"),
        resource("aws:ec2/routeTable:RouteTable", "inline", routes=[{"cidrBlock": "0.0.0.0/0", "gatewayId": "igw-id"}]),
        resource("aws:ec2/routeTable:RouteTable", "separate"),
        resource("aws:ec2/route:Route", "to-eni", routeTableId="separate-id", destinationCidrBlock="0.0.0.0/0",
                 networkInterfaceId="eni-1"),
        resource("aws:ec2/route:Route", "to-nat-gw", routeTableId="separate-id", destinationCidrBlock="1.0.0.0/8",
                 natGatewayId="nat-1"),
        resource("aws:ec2/vpcEndpoint:VpcEndpoint", "s3", vpcEndpointType="Gateway",
                 serviceName="com.amazonaws.us-west-1.s3", routeTableIds=["inline-id"]),
        resource("aws:ec2/routeTableAssociation:RouteTableAssociation", "a", subnetId="sub-1",
                 routeTableId="separate-id"),
    ], [], {})
    tables, associations = route_tables(graph)
    assert tables["inline-id"][0] == Route("0.0.0.0/0", "igw") and tables["inline-id"][1].target == "s3"
    assert tables["separate-id"][0] == Route("0.0.0.0/0", "eni:eni-1")
    assert tables["separate-id"][1].target.startswith("?"), "a target the twin cannot carry stays visible"
    assert associations == {"sub-1": "separate-id"} and tables["main"] == []


def test_the_twin_models_every_interface_the_plan_creates(stack: Graph) -> None:
    model = build_model(stack, "us-west-1")
    units = {i.unit for i in model.interfaces}
    expected = {"litellm", "grafana", "victoriametrics", "migration", "alb", "vpc-origin", "postgres", "efs",
                "egress-probe", "nat-eni", *(["cache", "vpce-bedrock-runtime"] if stack.stack == "prod" else [])}
    assert units == expected
    assert not [entry for entry in model.unmodelled if "not read by the twin" in entry]
    assert len({i.address for i in model.interfaces}) == len(model.interfaces)


def test_a_vpc_resource_the_twin_does_not_read_is_named() -> None:
    graph = planned("dev")
    extra = resource("aws:mq/broker:Broker", "queue", subnetIds=["x"], securityGroups=["y"])
    probe = Graph("dev", [*graph.resources, extra], graph.invokes, graph.outputs)
    assert "aws:mq/broker:Broker queue: not read by the twin" in build_model(probe, "us-west-1").unmodelled
