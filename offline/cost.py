"""What a planned stack costs a month, idle, in its region: every billable resource of the graph priced from one
checked-in table (offline/prices.yaml: AWS list prices with source and date per line).

"Idle" is what the stack costs with no traffic: hours of compute, load balancer, addresses, database and cache,
secrets, alarms and metrics. What grows with traffic (LCUs, logs, storage, requests) is listed apart with its unit
price. A resource type the estimator does not know, or a price missing for the region, is named as unpriced: never
counted as zero. Types that cost nothing by themselves are listed in FREE with the reason.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from catalog import MODEL_CATALOG
from components.litellm_config import CACHE_READ, CACHE_WRITE
from offline.engine import Graph, Resource
from offline.text import aligned
from settings import Settings

HOURS_PER_MONTH = 730
PRICES_FILE = Path(__file__).resolve().parent / "prices.yaml"
# The NAT instance's root volume comes from the fck-nat AMI; its size is not read here.
# fck-nat's AMIs have a 2 GB root volume (its docs/deploying.md); the launch template keeps the AMI's size.
NAT_ROOT_VOLUME_GB = 2
# A Claude Code turn for "what a budget buys" (an assumption, stated as one): 20k tokens of context and 1k out. Claude
# Code relies on prompt caching: most of the context is the cached prefix of the conversation, read at 0.1x the input
# price; the new part is written to the cache at 1.25x (components/litellm_config.py CACHE_READ/CACHE_WRITE).
TURN_INPUT_TOKENS, TURN_OUTPUT_TOKENS = 20_000, 1_000
TURN_CACHED_SHARE = 0.9
# Container Insights (standard) metrics per ECS cluster, service and task definition family: AWS's metric table
# for ECS (CloudWatch User Guide, "Amazon ECS Container Insights metrics"), billed as custom metrics.
INSIGHTS_PER_CLUSTER, INSIGHTS_PER_SERVICE, INSIGHTS_PER_FAMILY = 11, 13, 8

# DNS Firewall bills each query the VPC's resolver answers. Idle, the stack looks names up on schedules (scrapes,
# alert rules, the egress probe, health checks): an assumption of about 0.5 million lookups a month, stated as one.
DNS_FIREWALL_IDLE_MILLION_QUERIES = 0.5
# What `make plan` sums as the egress mode's cost: the items below (offline/plan.py prints it).
EGRESS_ITEMS = ("DNS Firewall", "Bedrock runtime interface endpoint")

# Resource types that cost nothing by themselves, and why (their cost, if any, is on another line).
FREE = {
    "aws:ec2/vpc:Vpc": "VPCs are free", "aws:ec2/subnet:Subnet": "free", "aws:ec2/routeTable:RouteTable": "free",
    "aws:ec2/route:Route": "free", "aws:ec2/routeTableAssociation:RouteTableAssociation": "free",
    "aws:ec2/internetGateway:InternetGateway": "free (data out is usage)",
    "aws:ec2/securityGroup:SecurityGroup": "free", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "free",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "free",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "free",
    "aws:ec2/networkInterface:NetworkInterface": "free (addresses are priced as IPv4)",
    "aws:ec2/launchTemplate:LaunchTemplate": "free (its instances are priced with the group)",
    "aws:ec2/flowLog:FlowLog": "usage: vended logs ingestion", "aws:iam/role:Role": "free",
    "aws:iam/rolePolicy:RolePolicy": "free", "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "free",
    "aws:iam/instanceProfile:InstanceProfile": "free", "aws:ecs/cluster:Cluster": "free (Container Insights priced)",
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders": "free",
    "aws:ecs/taskDefinition:TaskDefinition": "free (tasks are priced with their service)",
    "aws:lb/targetGroup:TargetGroup": "free", "aws:lb/listener:Listener": "free",
    "aws:lb/listenerRule:ListenerRule": "free", "aws:appautoscaling/target:Target": "free",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "free", "aws:secretsmanager/secretVersion:SecretVersion": "free",
    "aws:rds/subnetGroup:SubnetGroup": "free", "aws:elasticache/subnetGroup:SubnetGroup": "free",
    "aws:efs/mountTarget:MountTarget": "free", "aws:efs/accessPoint:AccessPoint": "free",
    "aws:efs/backupPolicy:BackupPolicy": "usage: backup storage", "aws:s3/bucket:Bucket": "usage: storage",
    "aws:s3/bucketPolicy:BucketPolicy": "free", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "free",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "free",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "SSE-S3: free",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "free",
    "aws:sns/topic:Topic": "usage: notifications", "aws:sns/topicSubscription:TopicSubscription": "free",
    "aws:cloudfront/distribution:Distribution": "usage: requests and data out; no monthly fee",
    "aws:cloudfront/function:Function": "usage: invocations", "aws:cloudfront/vpcOrigin:VpcOrigin": "free",
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": "free",
    "aws:cloudwatch/logGroup:LogGroup": "usage: ingestion and storage",
    "aws:cloudwatch/logDelivery:LogDelivery": "usage: vended logs",
    "aws:cloudwatch/logDeliverySource:LogDeliverySource": "free",
    "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination": "free",
    "aws:cloudwatch/eventRule:EventRule": "scheduled rules on the default bus: free",
    "aws:cloudwatch/eventTarget:EventTarget": "free", "aws:lambda/function:Function": "usage: requests, GB-seconds",
    "aws:lambda/permission:Permission": "free", "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig":
    "free", "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": "usage: vended logs",
    "aws:acm/certificate:Certificate": "public certificates are free",
    "aws:acm/certificateValidation:CertificateValidation": "free",
    "aws:route53/record:Record": "records in your zone: free",
    "aws:route53/resolverFirewallRule:ResolverFirewallRule": "free (queries are priced with the association)",
    "aws:route53/resolverFirewallRuleGroup:ResolverFirewallRuleGroup": "free",
    "aws:route53/resolverFirewallConfig:ResolverFirewallConfig": "free",
    "aws:ecr/repository:Repository": "usage: storage",
    "pulumi:providers:aws": "not a cloud resource",
    "random:index/randomPassword:RandomPassword": "not a cloud resource",
    "command:local:Command": "runs the migration task for minutes per deploy", "docker:index/image:Image":
    "built where pulumi runs; stored in ECR",
}


@dataclass(frozen=True)
class Price:
    key: str
    region: str
    usd: float
    unit: str
    basis: str
    source: str
    as_of: str


@dataclass(frozen=True)
class Line:
    resource: str
    item: str
    quantity: float
    unit: str
    unit_usd: float | None
    note: str = ""

    @property
    def monthly(self) -> float | None:
        return None if self.unit_usd is None else round(self.quantity * self.unit_usd, 2)


@dataclass
class Bill:
    region: str
    lines: list[Line] = field(default_factory=list)
    usage: list[Line] = field(default_factory=list)
    # Idle lines without a price in the region, or types without a pricer: the total is then too low.
    unpriced: list[str] = field(default_factory=list)
    # Prices of what grows with traffic that the table lacks for the region.
    unpriced_usage: list[str] = field(default_factory=list)
    bedrock: list[dict[str, Any]] = field(default_factory=list)
    budgets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> float:
        return round(sum(line.monthly or 0 for line in self.lines), 2)

    def as_dict(self) -> dict[str, Any]:
        return {"region": self.region, "total": self.total, "complete": not self.unpriced, "currency": "USD",
                "period": "month (730 h), idle",
                "lines": [{**asdict(line), "monthly": line.monthly} for line in self.lines],
                "usage": [asdict(line) for line in self.usage], "unpriced": self.unpriced,
                "unpriced_usage": self.unpriced_usage,
                "bedrock": self.bedrock, "budgets": self.budgets}


@cache
def prices() -> dict[tuple[str, str], Price]:
    table = yaml.safe_load(PRICES_FILE.read_text())["prices"]
    found = {}
    for entry in table:
        price = Price(**{k: str(v) if k in ("as_of", "source") else v for k, v in entry.items()})
        if not price.source or not price.as_of:
            raise ValueError(f"{PRICES_FILE.name}: {price.key} in {price.region} has no source or date")
        found[(price.key, price.region)] = price
    return found


class _Pricer:
    """Adds lines to a bill, naming every price the region lacks."""

    def __init__(self, bill: Bill) -> None:
        self.bill = bill

    def unit_price(self, key: str, region: str, usage: bool = False) -> float | None:
        price = prices().get((key, region))
        if price is None:
            (self.bill.unpriced_usage if usage else self.bill.unpriced).append(f"{key} in {region}")
        return None if price is None else price.usd

    def add(self, resource: Resource | str, item: str, quantity: float, unit: str, key: str, *, region: str,
            hourly: bool = False, note: str = "") -> None:
        unit_usd = self.unit_price(key, region)
        price = prices().get((key, region))
        if price and price.basis == "derived":
            note = "; ".join(filter(None, [note, "derived price (offline/prices.yaml)"]))
        name = resource if isinstance(resource, str) else resource.name
        self.bill.lines.append(Line(name, item, quantity * (HOURS_PER_MONTH if hourly else 1),
                                    f"{unit}-hour" if hourly else unit, unit_usd, note))

    def usage(self, item: str, unit: str, key: str, region: str) -> None:
        self.bill.usage.append(Line("-", item, 0, unit, self.unit_price(key, region, usage=True)))


# --- one pricer per billable type ------------------------------------------------------------------------------

def _by_arn(graph: Graph, type_: str, arn: str) -> Resource:
    return next(r for r in graph.of_type(type_) if r.outputs.get("arn") == arn)


def _fargate(graph: Graph, service: Resource, pricer: _Pricer, region: str) -> None:
    definition = _by_arn(graph, "aws:ecs/taskDefinition:TaskDefinition", service.inputs["taskDefinition"])
    count = service.inputs.get("desiredCount", 1)
    spot = service.inputs["capacityProviderStrategies"][0]["capacityProvider"] == "FARGATE_SPOT"
    architecture = (definition.inputs.get("runtimePlatform") or {}).get("cpuArchitecture", "X86_64").lower()
    variant = "spot" if spot else architecture
    vcpu, memory = int(definition.inputs["cpu"]) / 1024, int(definition.inputs["memory"]) / 1024
    label, tasks = f"Fargate {'Spot ' if spot else ''}{architecture}", f"{count} task(s)"
    pricer.add(service, f"{label} vCPU", vcpu * count, "vCPU", f"fargate.vcpu-hour.{variant}", region=region,
               hourly=True, note=tasks)
    pricer.add(service, f"{label} memory", memory * count, "GB", f"fargate.gb-hour.{variant}", region=region,
               hourly=True, note=tasks)


# Metered EFS GiB a month for VictoriaMetrics' data, base + per person: bench/efs_io.py (VictoriaMetrics 1.79.5 from
# Debian under strace, the task's flags, the image's 15 s scrapes of LiteLLM's own metrics page repeated per person),
# 5 minutes after a minute's warm-up, with 3 and 50 people: $11.92 and $17.93 a month at us-east-1 prices. Elastic
# throughput meters each data operation at 32 KiB at least and each metadata operation at 4 KiB as a read; most of
# it is VictoriaMetrics' small flushes and file lookups, whatever the traffic (docs/capacity.md).
EFS_METERED_GIB = {"write": (70.4, 1.357), "read": (243.6, 1.547)}


def people_count(stack: str) -> int:
    path = Path(__file__).resolve().parent.parent / "people" / f"{stack}.yaml"
    return len((yaml.safe_load(path.read_text()) or {}).get("people") or {}) if path.exists() else 0


def _metrics_volume(graph: Graph, volume: Resource, pricer: _Pricer, region: str) -> None:
    if volume.inputs.get("throughputMode") != "elastic":
        return
    people = people_count(graph.stack)
    for kind, (base, per_person) in EFS_METERED_GIB.items():
        pricer.add(volume, f"EFS Elastic {kind}s (VictoriaMetrics, measured)", round(base + per_person * people, 1),
                   "GB", f"efs.elastic-{kind}-gb", region=region, note=f"{people} people; bench/efs_io.py")


def _load_balancer(graph: Graph, balancer: Resource, pricer: _Pricer, region: str) -> None:
    pricer.add(balancer, "Application Load Balancer", 1, "ALB", "alb.hour", region=region, hourly=True)
    if not balancer.inputs.get("internal"):
        zones = len(balancer.inputs.get("subnets") or [])
        pricer.add(balancer, "public IPv4 addresses (one per zone)", zones, "address", "ipv4.hour", region=region,
                   hourly=True)


def _nat_group(graph: Graph, group: Resource, pricer: _Pricer, region: str) -> None:
    template = next(t for t in graph.of_type("aws:ec2/launchTemplate:LaunchTemplate")
                    if graph.id_of(t) == group.inputs["launchTemplate"]["id"])
    count, instance = group.inputs.get("desiredCapacity", 1), template.inputs["instanceType"]
    pricer.add(group, f"EC2 {instance}", count, "instance", f"ec2.hour.{instance}", region=region, hourly=True)
    pricer.add(group, "EBS gp3 root volume", NAT_ROOT_VOLUME_GB * count, "GB-month", "ebs.gp3.gb-month", region=region,
               note="the AMI's size, assumed")


def _address(graph: Graph, eip: Resource, pricer: _Pricer, region: str) -> None:
    pricer.add(eip, "Elastic IP (public IPv4)", 1, "address", "ipv4.hour", region=region, hourly=True)


def _database(graph: Graph, db: Resource, pricer: _Pricer, region: str) -> None:
    layout = "multi-az" if db.inputs.get("multiAz") else "single-az"
    instance_class = db.inputs["instanceClass"]
    pricer.add(db, f"RDS PostgreSQL {instance_class} {layout}", 1, "instance", f"rds.hour.{instance_class}.{layout}",
               region=region, hourly=True)
    pricer.add(db, f"gp3 storage {layout}", db.inputs["allocatedStorage"], "GB-month", f"rds.gp3.gb-month.{layout}",
               region=region)


def _cache(graph: Graph, group: Resource, pricer: _Pricer, region: str) -> None:
    nodes, node_type = group.inputs.get("numCacheClusters", 1), group.inputs["nodeType"]
    pricer.add(group, f"ElastiCache Valkey {node_type}", nodes, "node",
               f"valkey.node-hour.{node_type}", region=region, hourly=True)


def _secret(graph: Graph, secret: Resource, pricer: _Pricer, region: str) -> None:
    pricer.add(secret, "Secrets Manager secret", 1, "secret-month", "secretsmanager.secret-month", region=region)


def _alarm(graph: Graph, alarm: Resource, pricer: _Pricer, region: str) -> None:
    """CloudWatch bills an alarm per metric it evaluates: a metric-math alarm once per metric in its expression, an
    anomaly detection alarm three metrics per metric (the metric and the band's two bounds: CloudWatch pricing)."""
    queries = alarm.inputs.get("metricQueries") or []
    metrics = sum(1 for q in queries if q.get("metric")) or 1
    if any("ANOMALY_DETECTION_BAND" in str(q.get("expression", "")) for q in queries):
        metrics *= 3
    pricer.add(alarm, "CloudWatch alarm", metrics, "alarm metric-month", "cloudwatch.alarm-metric-month", region=region)


def _scaling_policy(graph: Graph, policy: Resource, pricer: _Pricer, region: str) -> None:
    """Target tracking creates and keeps two CloudWatch alarms (scale out, scale in), billed like any other."""
    pricer.add(policy, "CloudWatch alarm", 2, "alarm metric-month", "cloudwatch.alarm-metric-month", region=region,
               note="incl. target tracking's own")


def _metric_filter(graph: Graph, log_filter: Resource, pricer: _Pricer, region: str) -> None:
    pricer.add(log_filter, "custom metric from the log", 1, "metric-month", "cloudwatch.custom-metric-month",
               region=region)


def _container_insights(graph: Graph, cluster: Resource, pricer: _Pricer, region: str) -> None:
    mode = next((s["value"] for s in cluster.inputs.get("settings") or [] if s["name"] == "containerInsights"),
                "disabled")
    if mode == "enabled":
        services = len(graph.of_type("aws:ecs/service:Service"))
        families = len({d.inputs["family"] for d in graph.of_type("aws:ecs/taskDefinition:TaskDefinition")})
        metrics = INSIGHTS_PER_CLUSTER + INSIGHTS_PER_SERVICE * services + INSIGHTS_PER_FAMILY * families
        pricer.add(cluster, "Container Insights (standard)", metrics, "metric-month",
                   "cloudwatch.custom-metric-month", region=region, note=f"{services} services, {families} families")
    elif mode == "enhanced":
        pricer.bill.unpriced.append(f"Container Insights enhanced in {region}: billed per task and container "
                                    "metric, whose count depends on task churn (not modelled)")


def _namespace(graph: Graph, namespace: Resource, pricer: _Pricer, region: str) -> None:
    pricer.add(namespace, "Route 53 private hosted zone (Cloud Map)", 1, "zone-month", "route53.private-zone-month",
               region=region)


def _registry_arn(service: Resource) -> str | None:
    registries = service.inputs.get("serviceRegistries") or {}
    return (registries[0] if isinstance(registries, list) else registries).get("registryArn") if registries else None


def _discovery(graph: Graph, discovery: Resource, pricer: _Pricer, region: str) -> None:
    service = next((s for s in graph.of_type("aws:ecs/service:Service")
                    if _registry_arn(s) == discovery.outputs.get("arn")), None)
    tasks = service.inputs.get("desiredCount", 1) if service else 1
    pricer.add(discovery, "Cloud Map registered instances", tasks, "instance-month", "cloudmap.instance-month",
               region=region)


def _web_acl(graph: Graph, acl: Resource, pricer: _Pricer, region: str) -> None:
    pricer.add(acl, "WAF web ACL", 1, "ACL-month", "waf.acl-month", region=region)
    pricer.add(acl, "WAF rules", len(acl.inputs.get("rules") or []), "rule-month", "waf.rule-month", region=region)


def _firewall_domains(graph: Graph, domains: Resource, pricer: _Pricer, region: str) -> None:
    pricer.add(domains, "DNS Firewall domain names", len(domains.inputs.get("domains") or []), "domain-month",
               "route53.firewall-domain-month", region=region)


def _firewall_association(graph: Graph, association: Resource, pricer: _Pricer, region: str) -> None:
    pricer.add(association, "DNS Firewall queries", DNS_FIREWALL_IDLE_MILLION_QUERIES, "1M queries",
               "route53.firewall-million-queries", region=region, note="idle lookups, assumed")


def _vpc_endpoint(graph: Graph, endpoint: Resource, pricer: _Pricer, region: str) -> None:
    """Gateway endpoints (S3) are free; an interface endpoint is billed per zone it has an interface in."""
    if endpoint.inputs.get("vpcEndpointType") == "Interface":
        service = str(endpoint.inputs.get("serviceName", "")).rsplit(".", 1)[-1]
        item = "Bedrock runtime interface endpoint" if service == "bedrock-runtime" else f"{service} interface endpoint"
        pricer.add(endpoint, item, len(endpoint.inputs.get("subnetIds") or []), "zone", "vpce.interface.hour",
                   region=region, hourly=True)


def egress_cost(bill: dict[str, Any]) -> float:
    """The monthly cost of the egress mode's own resources, from a bill's `as_dict` form."""
    return round(sum(line["monthly"] or 0 for line in bill["lines"] if line["item"].startswith(EGRESS_ITEMS)), 2)


PRICERS: dict[str, Callable[[Graph, Resource, _Pricer, str], None]] = {
    "aws:ecs/service:Service": _fargate, "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:autoscaling/group:Group": _nat_group, "aws:ec2/eip:Eip": _address, "aws:rds/instance:Instance": _database,
    "aws:elasticache/replicationGroup:ReplicationGroup": _cache, "aws:secretsmanager/secret:Secret": _secret,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm, "aws:appautoscaling/policy:Policy": _scaling_policy,
    "aws:cloudwatch/logMetricFilter:LogMetricFilter":
    _metric_filter, "aws:ecs/cluster:Cluster": _container_insights,
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": _namespace,
    "aws:servicediscovery/service:Service": _discovery, "aws:wafv2/webAcl:WebAcl": _web_acl,
    "aws:efs/fileSystem:FileSystem": _metrics_volume, "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    "aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList": _firewall_domains,
    "aws:route53/resolverFirewallRuleGroupAssociation:ResolverFirewallRuleGroupAssociation": _firewall_association,
}

# What grows with traffic or data, priced per unit (not in the idle total).
USAGE = [
    ("ALB capacity units", "LCU-hour", "alb.lcu-hour"),
    ("CloudWatch Logs ingestion", "GB", "cloudwatch.logs-ingest-gb"),
    ("CloudWatch Logs storage", "GB-month", "cloudwatch.logs-storage-gb-month"),
    ("vended logs (flow, access, WAF)", "GB", "cloudwatch.vended-logs-gb"),
    ("EFS storage (metrics)", "GB-month", "efs.gb-month"), ("ECR image storage", "GB-month", "ecr.gb-month"),
    ("S3 storage (access logs)", "GB-month", "s3.gb-month"), ("RDS backups beyond the storage size", "GB-month",
                                                              "rds.backup.gb-month"),
    # The probe names no architecture: Lambda's default, x86_64.
    ("Lambda (egress probe; free tier covers it)", "GB-second", "lambda.gb-second.x86_64"),
    ("data out to the internet", "GB", "data-out.internet-gb"),
    ("DNS Firewall queries beyond the idle ones", "1M queries", "route53.firewall-million-queries"),
    ("interface endpoint data processed (model calls)", "GB", "vpce.interface.gb"),
]


def _region_of(graph: Graph, resource: Resource, default: str) -> str:
    provider = graph.provider_of(resource)
    return (provider.inputs.get("region") if provider else None) or default


def unknown_types(graph: Graph) -> list[str]:
    """Types in the graph with neither a pricer nor a reason to cost nothing."""
    types = {r.type for r in graph.resources if r.custom or r.is_provider}
    return sorted(types - set(PRICERS) - set(FREE))


def estimate(graph: Graph, settings: Settings) -> Bill:
    bill = Bill(region=settings.region)
    pricer = _Pricer(bill)
    for resource in graph.resources:
        if resource.type in PRICERS:
            PRICERS[resource.type](graph, resource, pricer, _region_of(graph, resource, settings.region))
    bill.unpriced += [f"{t}: no pricer (add one to offline/cost.py, or a reason to FREE)" for t in unknown_types(graph)]
    for item, unit, key in USAGE:
        pricer.usage(item, unit, key, settings.region)
    bill.lines = _merged(bill.lines)
    bill.unpriced = sorted(set(bill.unpriced))
    bill.bedrock, bill.budgets = list(_bedrock(settings)), list(_budgets(settings))
    return bill


def _merged(lines: list[Line]) -> list[Line]:
    """Lines of one kind at one price become one (13 alarms, 6 secrets), biggest first."""
    groups: dict[tuple[str, str, float | None], list[Line]] = {}
    for line in lines:
        groups.setdefault((line.item, line.unit, line.unit_usd), []).append(line)
    merged = [Line(group[0].resource if len(group) == 1 else f"{len(group)} resources", item, sum(
        line.quantity for line in group), unit, unit_usd, "; ".join(dict.fromkeys(filter(None, (
            line.note for line in group))))) for (item, unit, unit_usd), group in groups.items()]
    return sorted(merged, key=lambda line: -(line.monthly or 0))


def _bedrock(settings: Settings) -> Iterator[dict[str, Any]]:
    for name in settings.models:
        model = MODEL_CATALOG[name]
        input_per_mtok, output_per_mtok = model.billed_usd_per_mtok
        yield {"model": name, "profile": model.profile_scope, "input_per_mtok": round(input_per_mtok, 4),
               "output_per_mtok": round(output_per_mtok, 4)}


def turn_input_multiplier() -> float:
    """What a turn's input costs against its list price: cached reads at 0.1x, new context written at 1.25x."""
    return TURN_CACHED_SHARE * CACHE_READ + (1 - TURN_CACHED_SHARE) * CACHE_WRITE


def _budgets(settings: Settings) -> Iterator[dict[str, Any]]:
    """What each tier's budget buys, in Claude Code turns of the strongest model it may use."""
    prices_by_model = {b["model"]: b for b in _bedrock(settings)}
    for tier, budget in settings.budgets.items():
        if budget.max_budget_usd is None:
            continue
        models = budget.models or settings.models
        model = max(models, key=lambda m: prices_by_model[m]["output_per_mtok"])
        price = prices_by_model[model]
        turn = (TURN_INPUT_TOKENS * price["input_per_mtok"] * turn_input_multiplier()
                + TURN_OUTPUT_TOKENS * price["output_per_mtok"]) / 1e6
        yield {"tier": tier, "budget": budget.max_budget_usd, "period": budget.period, "model": model,
               "turns": int(budget.max_budget_usd // turn), "turn_usd": round(turn, 4)}


def _price_text(usd: float | None) -> str:
    return "no price" if usd is None else f"${usd:g}"


def render(bill: dict[str, Any]) -> str:
    """The bill as the plan prints it, from its `as_dict` form (also what `--json` carries)."""
    rows = [("resource", "item", "quantity", "unit price", "monthly")]
    for line in bill["lines"]:
        rows.append((line["resource"], line["item"] + (f" ({line['note']})" if line["note"] else ""),
                     f"{line['quantity']:g} {line['unit']}",
                     _price_text(line["unit_usd"]),
                     "?" if line["monthly"] is None else f"${line['monthly']:,.2f}"))
    table = aligned(rows, right={4}, indent="  ")
    usage = ", ".join(f"{u['item']} {_price_text(u['unit_usd'])}/{u['unit']}" for u in bill["usage"])
    out = [f"Monthly cost, idle, {bill['region']} (730 h; prices: offline/prices.yaml)", *table,
           f"  total: ${bill['total']:,.2f} a month" if not bill["unpriced"] else
           f"  total: COST UNKNOWN: at least ${bill['total']:,.2f} a month, {len(bill['unpriced'])} price(s) missing "
           f"for {bill['region']} (below); add them to offline/prices.yaml",
           f"  with traffic, also: {usage}",
           "  unpriced: " + ("; ".join(bill["unpriced"]) if bill["unpriced"] else "none") + (
               f" (traffic prices missing: {'; '.join(bill['unpriced_usage'])})" if bill.get("unpriced_usage") else ""),
           "Bedrock per 1M tokens in/out: " + ", ".join(
               f"{b['model']} ${b['input_per_mtok']:g}/${b['output_per_mtok']:g} ({b['profile']}.)"
               for b in bill["bedrock"])]
    out += [f"A {b['tier']} budget (${b['budget']:,.2f}/{b['period']}) buys about {b['turns']:,} Claude Code turns "
            f"on {b['model']} ({TURN_INPUT_TOKENS // 1000}k tokens in, {TURN_CACHED_SHARE:.0%} of them cached, "
            f"{TURN_OUTPUT_TOKENS // 1000}k out: "
            f"${b['turn_usd']:g} each)" for b in bill["budgets"]]
    return "\n".join(out)


def difference(base: dict[str, Any], head: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(item, base monthly, head monthly) for every item whose cost differs between two bills (as_dict), the
    biggest change first."""
    def monthly(bill: dict[str, Any]) -> Counter[str]:
        totals: Counter[str] = Counter()
        for line in bill.get("lines", []):
            totals[line["item"]] += line["monthly"] or 0
        return totals

    old, new = monthly(base), monthly(head)
    changed = [(item, round(old[item], 2), round(new[item], 2)) for item in set(old) | set(new)
               if round(old[item] - new[item], 2)]
    return sorted(changed, key=lambda change: -abs(change[2] - change[1]))


def render_difference(base_name: str, base: dict[str, Any], head_name: str, head: dict[str, Any]) -> str:
    changes = difference(base, head)
    delta = round(head.get("total", 0) - base.get("total", 0), 2)
    lines = [f"Monthly idle cost: {base_name} ${base.get('total', 0):,.2f} -> {head_name} ${head.get('total', 0):,.2f} "
             f"({'+' if delta >= 0 else '-'}${abs(delta):,.2f})"]
    lines += [f"  {item}: ${old:,.2f} -> ${new:,.2f}" for item, old, new in changes]
    unpriced = sorted(set(head.get("unpriced", [])) - set(base.get("unpriced", [])))
    lines += [f"  newly unpriced: {u}" for u in unpriced]
    return "\n".join(lines)


def load_bill(path: Path) -> dict[str, Any]:
    """The bill inside a plan's JSON (python -m offline.plan <stack> --json); none before the estimator existed."""
    return json.loads(path.read_text()).get("cost") or {"total": 0, "lines": [], "unpriced": []}
