"""From the planned graph to the twin's model: one interface per place a unit may run, and the NAT's boot facts.

ECS may place a task in any subnet its service lists, RDS and ElastiCache any subnet of their subnet group: the twin
puts one interface of each unit in each of those subnets, so every subnet's route table carries every unit's flows.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

from components.metrics_volume import NFS_PORT
from offline.engine import ACCOUNT_ID, MANAGED_PREFIX_LISTS, Graph, Resource
from tests.reachability import documents_of, resource_tags
from tests.twin.model import (
    PREFIX_LIST_STAND_INS,
    VPC_ORIGIN_GROUP,
    Interface,
    Model,
    NatPlan,
    Rule,
    SecurityGroup,
    Subnet,
    route_tables,
    security_groups,
)
from tests.twin.resolver import FirewallRule

# Types whose VPC footprint the twin reads, and types that touch the VPC but carry no traffic of their own.
READ = {
    "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/routeTable:RouteTable", "aws:ec2/route:Route",
    "aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:ec2/networkInterface:NetworkInterface", "aws:ec2/eip:Eip", "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:autoscaling/group:Group", "aws:ec2/vpcEndpoint:VpcEndpoint", "aws:ecs/service:Service",
    "aws:lb/loadBalancer:LoadBalancer", "aws:lb/listener:Listener", "aws:rds/instance:Instance",
    "aws:rds/subnetGroup:SubnetGroup", "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:elasticache/subnetGroup:SubnetGroup", "aws:efs/mountTarget:MountTarget", "aws:lambda/function:Function",
    "aws:cloudfront/vpcOrigin:VpcOrigin", "command:local:Command",
    "aws:route53/resolverFirewallRuleGroupAssociation:ResolverFirewallRuleGroupAssociation",
    "aws:route53/resolverFirewallConfig:ResolverFirewallConfig",
}
NOT_CARRYING_TRAFFIC = {
    "aws:ec2/flowLog:FlowLog": "records traffic, carries none",
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": "DNS: the twin connects to addresses",
    "aws:ecs/cluster:Cluster": "no interface of its own",
    "aws:lb/targetGroup:TargetGroup": "its port is the service's; the ALB's interfaces carry the traffic",
}
VPC_FOOTPRINT_KEYS = {"vpcId", "subnetId", "subnetIds", "subnets", "securityGroups", "securityGroupIds",
                      "vpcSecurityGroupIds", "vpcConfig", "networkConfiguration", "vpcZoneIdentifiers"}
ALWAYS_UNMODELLED = [
    "AWS's DNS on the wire (Route 53 Resolver): security groups do not filter it; tests/twin/resolver.py answers "
    "names as it would, with the planned DNS Firewall rules and the endpoints' private DNS",
    "the hypervisor's throughput, MTU and packet rates; ICMP (no group here admits it)",
    "security group connection tracking timeouts and untracked flows (groups open both ways to everything)",
    "Session Manager's own channel to the NAT instance (its agent calls AWS over HTTPS, like the boot)",
]
ENGINE_PORTS = {"postgres": 5432, "valkey": 6379, "redis": 6379}
ENDPOINT_PORT = 443


def _middle(name: str) -> str:
    """"gw-litellm-service" -> "litellm": the unit's own part of a child's name."""
    return "-".join(name.split("-")[1:-1])


def _container_ports(graph: Graph, definition_arn: str) -> tuple[int, ...]:
    (definition,) = [d for d in graph.of_type("aws:ecs/taskDefinition:TaskDefinition")
                     if d.outputs["arn"] == definition_arn]
    return tuple(m["containerPort"] for c in json.loads(definition.inputs["containerDefinitions"])
                 for m in c.get("portMappings", []))


def _spread(unit: str, subnets: list[Subnet], groups: list[str], listens: tuple[int, ...] = (),
            public: bool = False) -> Iterator[Interface]:
    for subnet in subnets:
        yield Interface(key=f"{unit}-{subnet.cidr.split('.')[2]}", unit=unit, subnet=subnet, groups=list(groups),
                        listens=listens, public=public)


def _interface_endpoints(graph: Graph) -> list[Resource]:
    return [e for e in graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
            if e.inputs.get("vpcEndpointType") == "Interface"]


def _endpoint_unit(service_name: str) -> str:
    """com.amazonaws.us-west-1.bedrock-runtime -> vpce-bedrock-runtime."""
    return f"vpce-{service_name.split('.', 3)[3]}"


def private_dns(graph: Graph, interfaces: list[Interface]) -> dict[str, list[str]]:
    """The name each interface endpoint with private DNS answers in the VPC (<service>.<region>.amazonaws.com) ->
    the addresses of its interfaces."""
    names = {}
    for endpoint in _interface_endpoints(graph):
        if endpoint.inputs.get("privateDnsEnabled"):
            _, _, region, service = endpoint.inputs["serviceName"].split(".", 3)
            unit = _endpoint_unit(endpoint.inputs["serviceName"])
            names[f"{service}.{region}.amazonaws.com"] = [i.address for i in interfaces if i.unit == unit]
    return names


def firewall(graph: Graph) -> list[FirewallRule]:
    """The rules of the rule groups associated with the VPC, ordered as Resolver applies them."""
    rules = []
    for association in graph.of_type(
            "aws:route53/resolverFirewallRuleGroupAssociation:ResolverFirewallRuleGroupAssociation"):
        group = association.inputs["firewallRuleGroupId"]
        for rule in graph.of_type("aws:route53/resolverFirewallRule:ResolverFirewallRule"):
            if rule.inputs["firewallRuleGroupId"] == group:
                (domains,) = [d for d in graph.of_type(
                    "aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList")
                    if graph.id_of(d) == rule.inputs["firewallDomainListId"]]
                rules.append(FirewallRule((association.inputs["priority"], rule.inputs["priority"]),
                                          rule.inputs["action"], tuple(domains.inputs["domains"])))
    return rules


def _subnet_group(graph: Graph, type_: str, name: str) -> list[str]:
    (group,) = [g for g in graph.of_type(type_) if g.outputs["name"] == name]
    return group.inputs["subnetIds"]


def interfaces_of(graph: Graph, subnets: dict[str, Subnet], groups: dict[str, SecurityGroup]) -> Iterator[Interface]:
    pick = lambda ids: [subnets[i] for i in ids]  # noqa: E731
    for service in graph.of_type("aws:ecs/service:Service"):
        network = service.inputs["networkConfiguration"]
        yield from _spread(_middle(service.name), pick(network["subnets"]), network["securityGroups"],
                           _container_ports(graph, service.inputs["taskDefinition"]), network.get("assignPublicIp"))
    for command in graph.of_type("command:local:Command"):
        environment = command.inputs.get("environment") or {}
        if "SUBNETS" in environment:  # scripts/run-ecs-task.sh: the migration task, awsvpc like the services
            yield from _spread("migration", pick(environment["SUBNETS"].split(",")), [environment["SECURITY_GROUP"]])
    listener_ports = tuple(sorted(r.inputs["port"] for r in graph.of_type("aws:lb/listener:Listener")))
    for alb in graph.of_type("aws:lb/loadBalancer:LoadBalancer"):
        yield from _spread("alb", pick(alb.inputs["subnets"]), alb.inputs["securityGroups"], listener_ports,
                           public=not alb.inputs.get("internal"))
        if graph.of_type("aws:cloudfront/vpcOrigin:VpcOrigin"):
            groups[VPC_ORIGIN_GROUP] = SecurityGroup(VPC_ORIGIN_GROUP, VPC_ORIGIN_GROUP,
                                                     egress=[Rule("all", (0, 65535), cidr="0.0.0.0/0")])
            yield from _spread("vpc-origin", pick(alb.inputs["subnets"]), [VPC_ORIGIN_GROUP])
    for database in graph.of_type("aws:rds/instance:Instance"):
        engine = database.inputs["engine"]
        yield from _spread(engine, pick(_subnet_group(graph, "aws:rds/subnetGroup:SubnetGroup",
                                                      database.inputs["dbSubnetGroupName"])),
                           database.inputs["vpcSecurityGroupIds"],
                           (database.inputs.get("port") or ENGINE_PORTS[engine],))
    for cache in graph.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        yield from _spread("cache", pick(_subnet_group(graph, "aws:elasticache/subnetGroup:SubnetGroup",
                                                       cache.inputs["subnetGroupName"])),
                           cache.inputs["securityGroupIds"], (cache.inputs.get("port") or 6379,))
    for target in graph.of_type("aws:efs/mountTarget:MountTarget"):
        yield from _spread("efs", [subnets[target.inputs["subnetId"]]], target.inputs["securityGroups"], (NFS_PORT,))
    for function in graph.of_type("aws:lambda/function:Function"):
        if function.inputs.get("vpcConfig"):
            config = function.inputs["vpcConfig"]
            yield from _spread(_middle(function.name), pick(config["subnetIds"]), config["securityGroupIds"])
    for endpoint in _interface_endpoints(graph):
        yield from _spread(_endpoint_unit(endpoint.inputs["serviceName"]), pick(endpoint.inputs["subnetIds"]),
                           endpoint.inputs["securityGroupIds"], (ENDPOINT_PORT,))
    static = graph.one("aws:ec2/networkInterface:NetworkInterface", "-nat")
    for eni in graph.of_type("aws:ec2/networkInterface:NetworkInterface"):
        unit = "nat-eni" if eni is static else _middle(eni.name)
        yield Interface(key=unit, unit=unit, subnet=subnets[eni.inputs["subnetId"]],
                        groups=eni.inputs.get("securityGroups", []), eni_id=graph.id_of(eni),
                        source_dest_check=eni.inputs.get("sourceDestCheck", True))


def nat_plan(graph: Graph, subnets: dict[str, Subnet]) -> NatPlan:
    template = graph.one("aws:ec2/launchTemplate:LaunchTemplate").inputs
    (primary,) = template["networkInterfaces"]
    (zone_subnet,) = graph.one("aws:autoscaling/group:Group").inputs["vpcZoneIdentifiers"]
    tags = {spec["resourceType"]: spec["tags"] for spec in template["tagSpecifications"]}
    profile = graph.one("aws:iam/instanceProfile:InstanceProfile")
    (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.outputs["name"] == profile.inputs["role"]]
    static = graph.one("aws:ec2/networkInterface:NetworkInterface", "-nat")
    eip = graph.one("aws:ec2/eip:Eip")
    return NatPlan(subnet=subnets[zone_subnet], groups=primary["securityGroups"], static_eni=graph.id_of(static),
                   elastic_ip=eip.outputs["publicIp"], allocation_id=eip.outputs["allocationId"],
                   user_data=base64.b64decode(template["userData"]).decode(), role_name=role.outputs["name"],
                   role_documents=documents_of(graph, role),
                   # What the launch template stamps, alone: provider default tags reach only what Pulumi creates.
                   instance_tags={f"aws:ResourceTag/{k}": v for k, v in tags["instance"].items()},
                   interface_tags={f"aws:ResourceTag/{k}": v for k, v in tags["network-interface"].items()},
                   static_eni_tags=resource_tags(graph, static.inputs["tags"]),
                   public_at_launch=primary.get("associatePublicIpAddress") == "true")


def _unmodelled(graph: Graph) -> list[str]:
    found = [f"{r.type} {r.name}: {NOT_CARRYING_TRAFFIC[r.type]}" for r in graph.resources
             if r.type in NOT_CARRYING_TRAFFIC]
    found += [f"{r.type} {r.name}: not read by the twin" for r in graph.resources
              if r.custom and r.type not in READ and r.type not in NOT_CARRYING_TRAFFIC
              and VPC_FOOTPRINT_KEYS & set(r.inputs)]
    found += [f"{e.type} {e.name}: its private DNS is off, so no name reaches it" for e in
              _interface_endpoints(graph) if not e.inputs.get("privateDnsEnabled")]
    found += [f"{e.type} {e.name}: only the NAT's Elastic IP is modelled" for e in graph.of_type("aws:ec2/eip:Eip")
              if not e.name.endswith("-nat")]
    return [*found, *ALWAYS_UNMODELLED]


def _assign_addresses(interfaces: list[Interface]) -> None:
    """Addresses from each subnet's usable range (AWS reserves the first four and the last)."""
    used: dict[str, int] = {}
    for interface in interfaces:
        used[interface.subnet.id] = used.get(interface.subnet.id, 9) + 1
        interface.address = interface.subnet.host(used[interface.subnet.id])


def _prefix_lists(graph: Graph, interfaces: list[Interface]) -> dict[str, list[str]]:
    """Prefix list id -> the ranges the twin uses for it. The CloudFront origin-facing list admits CloudFront's
    VPC-origin traffic as well as its public fleet (CloudFront Developer Guide, "Restrict access with VPC origins",
    option 1): the VPC origin's interfaces are members."""
    looked_up = {args["name"] for token, args in graph.invokes
                 if token == "aws:ec2/getManagedPrefixList:getManagedPrefixList"}
    return {MANAGED_PREFIX_LISTS[name]: [*PREFIX_LIST_STAND_INS[name],
                                         *(f"{i.address}/32" for i in interfaces if i.unit == "vpc-origin")]
            for name in looked_up}


def build_model(graph: Graph, region: str) -> Model:
    groups = security_groups(graph)
    tables, associations = route_tables(graph)
    subnets = {graph.id_of(s): Subnet(graph.id_of(s), s.inputs["cidrBlock"], associations.get(graph.id_of(s), "main"))
               for s in graph.of_type("aws:ec2/subnet:Subnet")}
    interfaces = list(interfaces_of(graph, subnets, groups))
    _assign_addresses(interfaces)
    return Model(stack=graph.stack, region=region, account_id=ACCOUNT_ID,
                 vpc_cidr=graph.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"], subnets=subnets, route_tables=tables,
                 groups=groups, interfaces=interfaces, nat=nat_plan(graph, subnets),
                 prefix_lists=_prefix_lists(graph, interfaces), unmodelled=_unmodelled(graph),
                 firewall=firewall(graph), private_dns=private_dns(graph, interfaces))
