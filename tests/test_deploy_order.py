"""Order: Pulumi creates a resource only after those it depends on, so each dependency AWS needs is on the graph.

A dependency is either explicit (`depends_on`) or an input taken from the other resource's outputs; both reach the
engine as the registration's dependencies, which the recording engine keeps.
"""

from __future__ import annotations

import pytest

from offline.engine import Graph, Resource


def internet_gateway(graph: Graph) -> Resource:
    return graph.one("aws:ec2/internetGateway:InternetGateway")


def test_the_elastic_ip_waits_for_the_internet_gateway(stack: Graph) -> None:
    """pulumi-aws Eip docs: "EIP may require IGW to exist prior to association. Use depends_on"."""
    assert stack.waits_for(stack.one("aws:ec2/eip:Eip"), internet_gateway(stack))


def test_the_nat_instance_launches_only_once_it_can_reach_the_internet(stack: Graph) -> None:
    """Its boot script calls the EC2 API over its public address before anything else works."""
    group = stack.one("aws:autoscaling/group:Group")
    assert stack.waits_for(group, internet_gateway(stack))
    assert stack.waits_for(group, stack.one("aws:ec2/route:Route", "-public-internet"))


def test_the_load_balancer_waits_for_the_internet_gateway(stack: Graph) -> None:
    """An internet-facing ALB needs the VPC's internet gateway (CreateLoadBalancer fails without one), and a
    CloudFront VPC origin needs one attached to the VPC too ("Restrict access with VPC origins")."""
    assert stack.waits_for(stack.one("aws:lb/loadBalancer:LoadBalancer"), internet_gateway(stack))


def test_the_vpc_origin_is_created_after_the_alb_and_its_gateway(prod: Graph) -> None:
    """CloudFront: the load balancer "must be fully deployed and in Active status" before a VPC origin uses it."""
    origin = prod.one("aws:cloudfront/vpcOrigin:VpcOrigin")
    assert prod.waits_for(origin, prod.one("aws:lb/loadBalancer:LoadBalancer"))
    assert prod.waits_for(origin, internet_gateway(prod))
    assert prod.waits_for(prod.one("aws:cloudfront/distribution:Distribution"), origin)


@pytest.mark.parametrize("service", ["litellm", "grafana", "victoriametrics"])
def test_services_start_after_what_they_need(stack: Graph, service: str) -> None:
    """CreateService rejects a capacity provider not yet associated with the cluster, and a target group that no
    listener rule uses; tasks need their security group rules, and VictoriaMetrics its mount targets."""
    resource = stack.one("aws:ecs/service:Service", f"-{service}-service")
    assert stack.waits_for(resource, stack.one("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders"))
    for rule in stack.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        if rule.name.startswith("gw-") and "-to-" in rule.name:
            assert stack.waits_for(resource, rule), f"{service} may start before {rule.name}"
    needs = {"litellm": "aws:lb/listenerRule:ListenerRule", "grafana": "aws:lb/listenerRule:ListenerRule",
             "victoriametrics": "aws:efs/mountTarget:MountTarget"}[service]
    for other in stack.of_type(needs):
        assert stack.waits_for(resource, other), f"{service} may start before {other.name}"


def test_litellm_rolls_only_after_its_migration_ran(stack: Graph) -> None:
    migration = stack.one("command:local:Command")
    assert stack.waits_for(stack.one("aws:ecs/service:Service", "-litellm-service"), migration)
    assert stack.waits_for(migration, stack.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                                                 "-litellm-to-postgres-in"))
    assert stack.waits_for(migration, stack.one("aws:rds/instance:Instance"))


def test_the_order_check_sees_a_missing_dependency(dev: Graph) -> None:
    nat = dev.one("aws:ec2/securityGroup:SecurityGroup", "-net-nat")
    assert not dev.waits_for(nat, internet_gateway(dev))


def test_the_nat_instance_boots_only_once_its_boot_script_may_call_ec2(stack: Graph) -> None:
    """fck-nat.sh calls associate-address and modify-network-interface-attribute once, without retrying: its role's
    policy must exist before the first instance launches."""
    group = stack.one("aws:autoscaling/group:Group")
    assert stack.waits_for(group, stack.one("aws:iam/rolePolicy:RolePolicy", "-nat-eni"))
    assert stack.waits_for(group, stack.one("aws:iam/rolePolicy:RolePolicy", "-nat-ssm"))


def test_nothing_in_the_private_subnets_calls_out_before_the_nat_forwards(stack: Graph) -> None:
    """Tasks pull images and secrets through the NAT (only S3 has an endpoint): started earlier they fail, and
    enough failed tasks trip the circuit breaker on a first deploy."""
    nat = stack.one("aws:autoscaling/group:Group")
    route = stack.one("aws:ec2/route:Route", "-private-egress")
    callers = [*stack.of_type("aws:ecs/service:Service"), stack.one("command:local:Command"),
               stack.one("aws:lambda/function:Function")]
    for caller in callers:
        assert stack.waits_for(caller, nat) and stack.waits_for(caller, route), caller.name
