"""Network: VPC, public and private subnets per AZ, and a self-healing NAT instance that only passes HTTPS.

The NAT instance is an auto scaling group of one running fck-nat. Private routes point at a static ENI that every
new instance attaches at boot, so losing the instance never changes a route. fck-nat's boot script
(AndrewGuenther/fck-nat, service/fck-nat.sh) masquerades out of the instance's own *primary* interface: it turns
that interface's source/dest check off, and the Elastic IP sits on it, so the Elastic IP is the gateway's stable
egress address and replaces the instance's launch-time public address.

Traffic is asymmetric: a task's request enters on the static ENI, but the de-NATed reply leaves by the primary
interface (the private subnets are not on-link, the default route is the primary's). Connection tracking belongs to
each network interface (its timeouts are set per interface: the EC2 API's ConnectionTrackingSpecification), so the
primary interface never saw that flow's request, and its group must admit the reply as egress of its own. Each
interface has its own group, and each leg then passes on its own rule, tracked or not.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.iam import allow, policy_document, trust_policy
from components.naming import stack_unique

HTTPS = 443
ANYWHERE = "0.0.0.0/0"
# Where replies to the tasks' connections go: their ephemeral source ports (VPC User Guide, "Ephemeral ports").
EPHEMERAL_PORTS = (1024, 65535)
# The user data retries the EC2 calls fck-nat makes once: every second for 5 minutes (IAM propagation).
NAT_CALL_DEADLINE_SECONDS, NAT_CALL_RETRY_SECONDS = 300, 1
FCK_NAT_OWNER = "568608671756"
SESSION_MANAGER_ACTIONS = ["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel",
                           "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
                           "ssmmessages:OpenDataChannel"]
# Tag on the NAT instance and its primary ENI; the instance's role may configure only resources carrying it.
NAT_TAG = "NatInstance"
# Blocks the VPC is cut into: public subnets take the first, private ones start halfway, the rest is growth.
SUBNET_BLOCKS = 16


def plan_subnets(vpc_cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """(public, private) CIDRs: one of each per AZ, each 1/16 of the VPC, leaving 16 - 2*az blocks free."""
    vpc = ipaddress.ip_network(vpc_cidr)
    blocks = list(vpc.subnets(prefixlen_diff=SUBNET_BLOCKS.bit_length() - 1))
    half = SUBNET_BLOCKS // 2
    return [str(b) for b in blocks[:az_count]], [str(b) for b in blocks[half:half + az_count]]


def nat_user_data(eni_id: str, eip_allocation_id: str) -> str:
    """The instance's boot. fck-nat.sh turns the primary interface's source/dest check off and associates `eip_id`
    with it once each, without retrying: refused while the instance role propagates, the NAT would never forward, or
    forward from a passing address. So the user data makes both calls itself, retried until a deadline, then starts
    fck-nat with only `eni_id` (attach the static ENI the routes point at, retried by fck-nat; masquerade out of the
    primary). It exits non-zero when it gave up, so cloud-init's log says so."""
    script = f"""#!/bin/sh
deadline=$(($(date +%s) + {NAT_CALL_DEADLINE_SECONDS}))
metadata() {{
    curl -sf --retry 5 --retry-connrefused --max-time 2 -H "X-aws-ec2-metadata-token: $token" \\
        "http://169.254.169.254/latest/meta-data/$1"
}}
retry() {{
    until "$@" --cli-connect-timeout 5 --cli-read-timeout 10; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep {NAT_CALL_RETRY_SECONDS}
    done
}}
token=$(curl -sf --retry 5 --retry-connrefused --max-time 2 -X PUT \\
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)
region=$(metadata placement/region)
primary=$(metadata "network/interfaces/macs/$(metadata mac)/interface-id")
if [ -z "$region" ] || [ -z "$primary" ]; then
    echo "NAT boot: the instance metadata gave no region or primary interface" >&2
    exit 1
fi
failed=""
retry aws ec2 modify-network-interface-attribute --region "$region" --network-interface-id "$primary" \\
    --no-source-dest-check || failed="$failed ModifyNetworkInterfaceAttribute"
retry aws ec2 associate-address --region "$region" --allocation-id {eip_allocation_id} \\
    --network-interface-id "$primary" --allow-reassociation || failed="$failed AssociateAddress"
printf 'eni_id={eni_id}\\n' > /etc/fck-nat.conf
service fck-nat restart
if [ -n "$failed" ]; then
    echo "NAT boot: gave up on$failed after {NAT_CALL_DEADLINE_SECONDS} s" >&2
    exit 1
fi
"""
    return base64.b64encode(script.encode()).decode()


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    region: str
    account_id: str
    vpc_cidr: str
    az_count: int
    nat_instance_type: str
    nat_ami_id: str | None
    flow_log_traffic: str
    log_retention_days: int
    # Provider default tags do not reach instances an auto scaling group launches; these are stamped on them.
    instance_tags: Mapping[str, str]
    # Zone IDs the subnets must avoid -> why (e.g. a zone CloudFront VPC origins do not support).
    excluded_zone_ids: Mapping[str, str] = field(default_factory=dict)


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    private_subnet_cidrs: list[str]
    availability_zones: list[str]
    nat_eni_id: pulumi.Output[str]
    # The NAT instance's primary interface: where egress and the operators' tunnels leave from.
    nat_security_group_id: pulumi.Output[str]
    nat_group_name: pulumi.Output[str]
    nat_egress_ip: pulumi.Output[str]
    # What must exist before anything public is created (an internet-facing ALB, an Elastic IP, a VPC origin).
    internet_access: list[pulumi.Resource]
    # What must exist before anything in the private subnets calls out (image pulls, secrets, logs, Bedrock).
    egress_ready: list[pulumi.Resource]
    # The VPC's emptied default group: a place to park interfaces whose own group is being deleted.
    default_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:network:Network", name, None, opts)
        self._name, self._args = name, args
        self.availability_zones = self._pick_zones()
        public_cidrs, self.private_subnet_cidrs = plan_subnets(args.vpc_cidr, args.az_count)

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.vpc_cidr, enable_dns_support=True,
                          enable_dns_hostnames=True, tags={"Name": f"{name}-vpc"}, opts=self._child())
        self.vpc_id = vpc.id
        # Strip the default group's allow-all rules so nothing can use it by accident.
        self.default_security_group_id = aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id,
                                                                      opts=self._child()).id
        self.public_subnet_ids = self._subnets("public", public_cidrs)
        self.private_subnet_ids = self._subnets("private", self.private_subnet_cidrs)

        self.internet_access = self._route_public_to_internet()
        nat = self._nat_instance()
        self.egress_ready = [nat, self._route_private_through_nat()]
        self._flow_logs()
        self.register_outputs({
            "vpcId": self.vpc_id, "publicSubnetIds": self.public_subnet_ids,
            "privateSubnetIds": self.private_subnet_ids, "natEniId": self.nat_eni_id,
            "natSecurityGroupId": self.nat_security_group_id, "natEgressIp": self.nat_egress_ip,
        })

    def _child(self, **kwargs: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _pick_zones(self) -> list[str]:
        found = aws.get_availability_zones(
            state="available", filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOptions(parent=self))
        excluded = self._args.excluded_zone_ids
        zones = sorted(name for name, zone_id in zip(found.names, found.zone_ids, strict=True)
                       if zone_id not in excluded)
        if len(zones) < self._args.az_count:
            why = "".join(f"; {zone_id} left out: {reason}" for zone_id, reason in excluded.items()
                          if zone_id in found.zone_ids)
            raise ValueError(f"llm-gateway:network.azCount = {self._args.az_count}: region {self._args.region} "
                             f"offers {len(zones)} usable availability zones ({', '.join(zones)}){why}; "
                             f"allowed: 2 to {len(zones)}")
        return zones[: self._args.az_count]

    def _subnets(self, tier: str, cidrs: list[str]) -> list[pulumi.Output[str]]:
        subnets = [
            aws.ec2.Subnet(f"{self._name}-{tier}-{zone[-1]}", vpc_id=self.vpc_id, cidr_block=cidr,
                           availability_zone=zone, map_public_ip_on_launch=False,
                           tags={"Name": f"{self._name}-{tier}-{zone}", "Tier": tier}, opts=self._child())
            for zone, cidr in zip(self.availability_zones, cidrs, strict=True)
        ]
        return [s.id for s in subnets]

    def _route_table(self, tier: str, subnet_ids: list[pulumi.Output[str]]) -> aws.ec2.RouteTable:
        table = aws.ec2.RouteTable(f"{self._name}-{tier}", vpc_id=self.vpc_id,
                                   tags={"Name": f"{self._name}-{tier}"}, opts=self._child())
        for zone, subnet_id in zip(self.availability_zones, subnet_ids, strict=True):
            aws.ec2.RouteTableAssociation(f"{self._name}-{tier}-{zone[-1]}", route_table_id=table.id,
                                          subnet_id=subnet_id, opts=self._child())
        return table

    def _route_public_to_internet(self) -> list[pulumi.Resource]:
        igw = aws.ec2.InternetGateway(f"{self._name}-igw", vpc_id=self.vpc_id, opts=self._child())
        table = self._route_table("public", self.public_subnet_ids)
        route = aws.ec2.Route(f"{self._name}-public-internet", route_table_id=table.id,
                              destination_cidr_block=ANYWHERE, gateway_id=igw.id, opts=self._child())
        return [igw, route]

    def _route_private_through_nat(self) -> pulumi.Resource:
        table = self._route_table("private", self.private_subnet_ids)
        route = aws.ec2.Route(f"{self._name}-private-egress", route_table_id=table.id,
                              destination_cidr_block=ANYWHERE, network_interface_id=self.nat_eni_id,
                              opts=self._child())
        # ECR image layers come from S3: a gateway endpoint keeps them off the NAT instance, free of charge.
        aws.ec2.VpcEndpoint(f"{self._name}-s3", vpc_id=self.vpc_id, vpc_endpoint_type="Gateway",
                            service_name=f"com.amazonaws.{self._args.region}.s3", route_table_ids=[table.id],
                            opts=self._child())
        return route

    def _nat_security_groups(self) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
        """(static ENI's group, primary interface's group). Requests come in on the static ENI; the primary sends
        them on as HTTPS and sends the replies back to the private subnets."""
        static = aws.ec2.SecurityGroup(f"{self._name}-nat-eni", vpc_id=self.vpc_id,
                                       description="NAT static ENI: HTTPS in from the private subnets",
                                       opts=self._child())
        primary = aws.ec2.SecurityGroup(f"{self._name}-nat", vpc_id=self.vpc_id,
                                        description="NAT instance: HTTPS out, replies to the private subnets",
                                        opts=self._child())
        for zone, cidr in zip(self.availability_zones, self.private_subnet_cidrs, strict=True):
            aws.vpc.SecurityGroupIngressRule(
                f"{self._name}-nat-in-{zone[-1]}", security_group_id=static.id, ip_protocol="tcp",
                from_port=HTTPS, to_port=HTTPS, cidr_ipv4=cidr, description=f"HTTPS from private {zone}",
                opts=self._child())
            aws.vpc.SecurityGroupEgressRule(
                f"{self._name}-nat-replies-{zone[-1]}", security_group_id=primary.id, ip_protocol="tcp",
                from_port=EPHEMERAL_PORTS[0], to_port=EPHEMERAL_PORTS[1], cidr_ipv4=cidr,
                description=f"replies to private {zone} (the request came in on the static ENI)",
                opts=self._child())
        aws.vpc.SecurityGroupEgressRule(
            f"{self._name}-nat-out", security_group_id=primary.id, ip_protocol="tcp", from_port=HTTPS,
            to_port=HTTPS, cidr_ipv4=ANYWHERE, description="HTTPS to AWS APIs (Bedrock, ECR, Secrets, Logs)",
            opts=self._child())
        return static, primary

    def _nat_instance_profile(self, eip: aws.ec2.Eip, tag_value: str) -> tuple[aws.iam.InstanceProfile,
                                                                                list[pulumi.Resource]]:
        """Exactly what fck-nat.sh calls at boot: AttachNetworkInterface (its instance + the static ENI),
        ModifyNetworkInterfaceAttribute and AssociateAddress on its primary ENI. The instance and its primary ENI
        have no id before launch, so they are matched by the tag the launch template stamps on them (and the static
        ENI carries it too)."""
        role = aws.iam.Role(f"{self._name}-nat", assume_role_policy=trust_policy("ec2.amazonaws.com"),
                            description="NAT instance: attach its static ENI, configure its primary ENI",
                            opts=self._child())
        ec2_arn = f"arn:aws:ec2:{self._args.region}:{self._args.account_id}"
        # fck-nat's docs (docs/configuration.md) also list DisassociateAddress for `eip_id`; today's script passes
        # --allow-reassociation instead, but a later one may call it.
        policy = aws.iam.RolePolicy(f"{self._name}-nat-eni", role=role.name, policy=policy_document(
            allow(["ec2:AttachNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute", "ec2:AssociateAddress",
                   "ec2:DisassociateAddress"],
                  [f"{ec2_arn}:instance/*", f"{ec2_arn}:network-interface/*"], sid="OwnInstanceAndInterfaces",
                  condition={"StringEquals": {f"aws:ResourceTag/{NAT_TAG}": tag_value}}),
            allow(["ec2:AssociateAddress", "ec2:DisassociateAddress"],
                  [eip.allocation_id.apply(lambda a: f"{ec2_arn}:elastic-ip/{a}")], sid="EgressAddress"),
        ), opts=self._child())
        # Session Manager instead of SSH (no inbound port, no key pair), and nothing more of Systems Manager: the
        # minimum its agent needs for sessions (Systems Manager User Guide, "Create a custom IAM instance profile for
        # Session Manager"; AWS's own AWSCloud9SSMInstanceProfile is exactly this), not AmazonSSMManagedInstanceCore's
        # parameters, documents and run commands.
        ssm = aws.iam.RolePolicy(f"{self._name}-nat-ssm", role=role.name, policy=policy_document(
            allow(SESSION_MANAGER_ACTIONS, ["*"], sid="SessionManagerOnly")), opts=self._child())
        return aws.iam.InstanceProfile(f"{self._name}-nat", role=role.name, opts=self._child()), [policy, ssm]

    def _nat_ami(self) -> str:
        """The pinned AMI, or the newest fck-nat AMI at first deploy. fck-nat republishes every January and July
        (.github/workflows/ami-publish.yml): the launch template ignores a newer lookup, so an unrelated `pulumi up`
        never replaces the NAT mid-deploy. A new AMI is taken deliberately, by pinning `network.natAmiId`."""
        if self._args.nat_ami_id:
            return self._args.nat_ami_id
        return aws.ec2.get_ami(
            owners=[FCK_NAT_OWNER], most_recent=True,
            filters=[{"name": "name", "values": ["fck-nat-al2023-hvm-*"]},
                     {"name": "architecture", "values": ["arm64"]},
                     {"name": "root-device-type", "values": ["ebs"]}],
            opts=pulumi.InvokeOptions(parent=self)).id

    def _nat_instance(self) -> aws.autoscaling.Group:
        static_group, group = self._nat_security_groups()
        tag_value = stack_unique(f"{self._name}-nat")
        eni = aws.ec2.NetworkInterface(f"{self._name}-nat", subnet_id=self.public_subnet_ids[0],
                                       security_groups=[static_group.id], source_dest_check=False,
                                       description="NAT static ENI: private routes point here",
                                       tags={"Name": f"{self._name}-nat", NAT_TAG: tag_value}, opts=self._child())
        # pulumi-aws's Eip docs: "EIP may require IGW to exist prior to association. Use depends_on".
        eip = aws.ec2.Eip(f"{self._name}-nat", domain="vpc", tags={"Name": f"{self._name}-nat-egress"},
                          opts=self._child(depends_on=self.internet_access))
        profile, grants = self._nat_instance_profile(eip, tag_value)
        template = aws.ec2.LaunchTemplate(
            f"{self._name}-nat", image_id=self._nat_ami(), instance_type=self._args.nat_instance_type,
            iam_instance_profile={"arn": profile.arn}, update_default_version=True,
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required",
                              "http_put_response_hop_limit": 1},
            # A launch-time public address lets the boot script reach the EC2 API; the Elastic IP then replaces it.
            network_interfaces=[{"device_index": 0, "associate_public_ip_address": "true",
                                 "delete_on_termination": "true", "security_groups": [group.id]}],
            block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {
                "encrypted": "true", "volume_type": "gp3", "delete_on_termination": "true"}}],
            tag_specifications=[
                {"resource_type": kind, "tags": {**self._args.instance_tags, "Name": f"{self._name}-nat",
                                                 NAT_TAG: tag_value}}
                for kind in ("instance", "volume", "network-interface")],
            user_data=pulumi.Output.all(eni.id, eip.allocation_id).apply(lambda ids: nat_user_data(*ids)),
            opts=self._child(ignore_changes=[] if self._args.nat_ami_id else ["imageId"]))
        group_of_one = aws.autoscaling.Group(
            f"{self._name}-nat", min_size=1, max_size=1, desired_capacity=1,
            # The static ENI lives in one AZ, so the instance must too.
            vpc_zone_identifiers=[self.public_subnet_ids[0]], health_check_type="EC2",
            launch_template={"id": template.id, "version": template.latest_version.apply(str)},
            instance_refresh={"strategy": "Rolling", "preferences": {"min_healthy_percentage": 0}},
            enabled_metrics=["GroupInServiceInstances"],
            tags=[{"key": k, "value": v, "propagate_at_launch": True} for k, v in self._args.instance_tags.items()],
            # The boot calls the EC2 API at once (retrying a while): its permissions should exist before it runs.
            opts=self._child(depends_on=[*self.internet_access, *grants]))
        self.nat_security_group_id, self.nat_eni_id = group.id, eni.id
        self.nat_group_name, self.nat_egress_ip = group_of_one.name, eip.public_ip
        return group_of_one

    def _flow_logs(self) -> None:
        logs = aws.cloudwatch.LogGroup(f"{self._name}-flow-logs", retention_in_days=self._args.log_retention_days,
                                       opts=self._child())
        role = aws.iam.Role(f"{self._name}-flow-logs",
                            assume_role_policy=trust_policy("vpc-flow-logs.amazonaws.com", self._args.account_id),
                            opts=self._child())
        aws.iam.RolePolicy(f"{self._name}-flow-logs", role=role.name, policy=policy_document(
            allow(["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                  [logs.arn, logs.arn.apply(lambda a: f"{a}:log-stream:*")]),
        ), opts=self._child())
        aws.ec2.FlowLog(f"{self._name}-vpc", vpc_id=self.vpc_id, traffic_type=self._args.flow_log_traffic,
                        log_destination_type="cloud-watch-logs", log_destination=logs.arn, iam_role_arn=role.arn,
                        max_aggregation_interval=60, opts=self._child())
