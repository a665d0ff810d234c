"""Offline plan: what `pulumi up` would create for a stack, without the Pulumi CLI, credentials or network.

    python -m offline.plan dev            # readable, grouped by component
    python -m offline.plan prod --json    # the same for tools

Runs the real program under the recording mock engine, then the policy pack over what it planned (with
policies/config.<stack>.json when there is one). Exits 1 on any error, 2 on bad stack settings, 3 when a
mandatory policy is violated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from offline.cost import egress_cost, estimate, load_bill, render_difference
from offline.cost import render as render_bill
from offline.engine import ROOT_DIR, Graph, Resource, fewer_collections, run, stack_config, stack_settings
from offline.policy_check import PolicyConfigError, Verdict, evaluate, mandatory, stack_policy_config, waivers
from people_file import PeopleError, load_people, people_path
from settings import Settings, SettingsError

# Per resource type, the inputs a reviewer reads in a pull request.
REVIEW_KEYS: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("cidrBlock", "enableDnsHostnames"),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone", "mapPublicIpOnLaunch"),
    "aws:ec2/route:Route": ("destinationCidrBlock", "gatewayId", "networkInterfaceId"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (
        "ipProtocol", "fromPort", "toPort", "cidrIpv4", "prefixListId", "referencedSecurityGroupId"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": (
        "ipProtocol", "fromPort", "toPort", "cidrIpv4", "prefixListId", "referencedSecurityGroupId"),
    "aws:ec2/networkInterface:NetworkInterface": ("sourceDestCheck",),
    "aws:ec2/launchTemplate:LaunchTemplate": ("instanceType", "imageId", "metadataOptions"),
    "aws:autoscaling/group:Group": ("minSize", "maxSize", "healthCheckType"),
    "aws:cloudwatch/logGroup:LogGroup": ("retentionInDays",),
    "aws:ec2/flowLog:FlowLog": ("trafficType", "logDestinationType"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("serviceName", "vpcEndpointType"),
    "pulumi:providers:aws": ("region", "defaultTags"),
    "aws:lb/loadBalancer:LoadBalancer": ("internal", "idleTimeout", "dropInvalidHeaderFields",
                                         "enableDeletionProtection"),
    "aws:lb/targetGroup:TargetGroup": ("targetType", "port", "deregistrationDelay", "loadBalancingAlgorithmType"),
    "aws:lb/listener:Listener": ("protocol", "port"),
    "aws:cloudfront/distribution:Distribution": ("priceClass", "httpVersion", "aliases", "webAclId"),
    "aws:wafv2/webAcl:WebAcl": ("scope",),
    "aws:acm/certificate:Certificate": ("domainName",),
    "aws:route53/record:Record": ("name", "type"),
    "aws:secretsmanager/secret:Secret": ("description", "recoveryWindowInDays"),
    "aws:ecs/taskDefinition:TaskDefinition": ("family", "cpu", "memory", "runtimePlatform"),
    "aws:ecs/service:Service": ("desiredCount", "capacityProviderStrategies", "enableExecuteCommand",
                                "deploymentMinimumHealthyPercent", "deploymentMaximumPercent"),
    "aws:appautoscaling/target:Target": ("minCapacity", "maxCapacity"),
    "aws:rds/instance:Instance": ("instanceClass", "engineVersion", "multiAz", "storageEncrypted",
                                  "publiclyAccessible", "backupRetentionPeriod", "deletionProtection"),
    "aws:efs/fileSystem:FileSystem": ("encrypted", "throughputMode"),
    "aws:ecr/repository:Repository": ("imageTagMutability", "imageScanningConfiguration"),
    "docker:index/image:Image": ("imageName",),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("metricName", "comparisonOperator", "threshold"),
}


def _listener_rule(inputs: dict[str, Any]) -> dict[str, Any]:
    """A rule's priority, paths, required headers (names only: values are secret) and what it does."""
    conditions = inputs.get("conditions") or []
    action = (inputs.get("actions") or [{}])[0]
    return {
        "priority": inputs.get("priority"),
        "paths": [v for c in conditions for v in (c.get("pathPattern") or {}).get("values", [])] or ["*"],
        "requiresHeaders": [c["httpHeader"]["httpHeaderName"] for c in conditions if c.get("httpHeader")],
        "action": action.get("type") if action.get("type") != "fixed-response"
        else f"fixed {action['fixedResponse']['statusCode']}",
    }


SUMMARIES = {"aws:lb/listenerRule:ListenerRule": _listener_rule}


def _review(resource: Resource) -> dict[str, Any]:
    keys = REVIEW_KEYS.get(resource.type, ())
    shown = {k: resource.inputs[k] for k in keys if resource.inputs.get(k) not in (None, "", [], {})}
    if resource.type in SUMMARIES:
        shown.update(SUMMARIES[resource.type](resource.inputs))
    if resource.protect:
        shown["protect"] = True
    return shown


def alarm_routes(graph: Graph) -> dict[str, Any]:
    """How many alarms there are and who hears them: the subscribers of the topics they notify."""
    topics = {r.outputs["arn"] for r in graph.of_type("aws:sns/topic:Topic")}
    subscriptions = graph.of_type("aws:sns/topicSubscription:TopicSubscription")
    subscribers = sorted({f"{s.inputs['protocol']}:{s.inputs['endpoint']}" for s in subscriptions
                          if s.inputs["topic"] in topics})
    return {"alarms": len(graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")), "subscribers": subscribers}


def egress_of(graph: Graph, bill: dict[str, Any]) -> dict[str, Any]:
    """The egress mode as planned (not as configured): a DNS Firewall on the VPC or none, and the path model calls
    take, with what the two cost a month."""
    domains = graph.of_type("aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList")
    allowed = max((len(d.inputs.get("domains") or []) for d in domains if d.inputs.get("domains") != ["*"]),
                  default=0)
    firewalled = bool(graph.of_type(
        "aws:route53/resolverFirewallRuleGroupAssociation:ResolverFirewallRuleGroupAssociation"))
    endpoint = any(str(e.inputs.get("serviceName", "")).endswith(".bedrock-runtime")
                   for e in graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"))
    return {"mode": "allow-list" if firewalled else "open", "allowed_names": allowed if firewalled else None,
            "bedrock_path": "interface endpoint" if endpoint else "NAT instance", "monthly": egress_cost(bill)}


def people_of(settings: Settings) -> dict[str, Any]:
    """Who the stack's people file admits, by tier (tools.users applies it to the running gateway)."""
    path = people_path(settings.stack)
    if not path.exists():
        return {"file": None}
    people = load_people(settings, path)
    return {"file": str(path.relative_to(ROOT_DIR)), "active": dict(Counter(p.tier for p in people if not p.blocked)),
            "blocked": sum(p.blocked for p in people)}


def summarize(graph: Graph, settings: Settings, verdicts: list[Verdict],
              waived: dict[str, str] | None = None) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for resource in graph.resources:
        if not resource.custom and not resource.is_provider:
            continue
        owner = graph.component_of(resource)
        label = f"{owner.type} {owner.name}" if owner else "stack"
        groups.setdefault(label, []).append({"type": resource.type, "name": resource.name, **_review(resource)})
    counts = Counter(r.type for r in graph.resources if r.custom or r.is_provider)
    bill = estimate(graph, settings).as_dict()
    return {
        "stack": graph.stack,
        "components": groups,
        "counts": dict(sorted(counts.items())),
        "total": sum(counts.values()),
        "outputs": graph.outputs,
        "notifications": alarm_routes(graph),
        "people": people_of(settings),
        "cost": bill,
        "egress": egress_of(graph, bill),
        "policies": {
            "verdicts": [vars(v) for v in verdicts],
            "counts": dict(Counter(v.level for v in verdicts)),
            "mandatory": len(mandatory(verdicts)),
            "waivers": waived or {},
        },
    }


def _print_text(summary: dict[str, Any], seconds: float) -> None:
    print(f"Plan for stack {summary['stack']} (offline, mock engine)\n")
    for component, resources in summary["components"].items():
        print(component)
        for entry in resources:
            details = ", ".join(f"{k}={json.dumps(v)}" for k, v in entry.items() if k not in ("type", "name"))
            print(f"  + {entry['type']}  {entry['name']}" + (f"  [{details}]" if details else ""))
        print()
    print("Resources per type:")
    for type_, count in summary["counts"].items():
        print(f"  {count:3d}  {type_}")
    print(f"  {summary['total']:3d}  in all\n")
    print("Outputs:")
    for key, value in summary["outputs"].items():
        print(f"  {key}: {json.dumps(value)}")
    notifications = summary["notifications"]
    print(f"\nAlarms: {notifications['alarms']}, " + (f"sent to {', '.join(notifications['subscribers'])}"
          if notifications["subscribers"] else "sent to NOBODY (no subscriber: set llm-gateway:alertEmail)"))
    policies = summary["policies"]
    people = summary["people"]
    print(f"\nPeople: {sum(people['active'].values())} active "
          f"({', '.join(f'{tier} {n}' for tier, n in sorted(people['active'].items())) or 'nobody'}), "
          f"{people['blocked']} blocked, from {people['file']} (apply: tools.users)" if people["file"] else
          f"\nPeople: no people/{summary['stack']}.yaml (tools.users needs one)")
    egress = summary["egress"]
    print(f"\nEgress: {egress['mode']}" + (f" ({egress['allowed_names']} names resolve)" if egress["allowed_names"]
          else " (every name resolves)") + f"; model calls through the {egress['bedrock_path']}; "
          f"${egress['monthly']:,.2f} a month")
    print("\n" + render_bill(summary["cost"]))
    print(f"\nPolicy pack: {len(policies['verdicts'])} findings {policies['counts'] or ''}")
    for verdict in policies["verdicts"]:
        print(f"  [{verdict['level']}] {verdict['policy']}: {verdict['resource'].rsplit('::', 1)[-1]}: "
              f"{verdict['message']}\n      fix: {verdict['fix']}")
    for name, reason in policies["waivers"].items():
        print(f"  waived: {name}: {reason}")
    print(f"\nPlanned in {seconds:.1f} s")


def plan_summary(stack: str, config: dict[str, str] | None = None, policy_config: Path | None = None) -> dict[str, Any]:
    """The plan of `stack` with its stack file's config, or `config` (namespaced keys, as Pulumi hands them over)."""
    config = stack_config(stack) if config is None else config
    settings = stack_settings(stack, config)
    policy = json.loads(policy_config.read_text()) if policy_config else stack_policy_config(stack)
    graph = run(stack, config)
    return summarize(graph, settings, evaluate(graph, policy), waivers(policy))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--policy-config", type=Path, help="policy config JSON, as for --policy-pack-config "
                        "(default: policies/config.<stack>.json if present)")
    against = parser.add_mutually_exclusive_group()
    against.add_argument("--against", metavar="STACK", help="also print the monthly cost difference from STACK")
    against.add_argument("--against-file", type=Path, metavar="PLAN_JSON",
                         help="... or from a plan saved with --json (e.g. the base branch's, in a pull request)")
    parser.add_argument("--cost-only", action="store_true", help="print only the bill (and the difference)")
    options = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        with fewer_collections():  # the policy pack and the bill too, not only the program
            summary = plan_summary(options.stack, policy_config=options.policy_config)
            base_name, base = (options.against, plan_summary(options.against)["cost"]) if options.against else (
                (str(options.against_file), load_bill(options.against_file)) if options.against_file else (None, None))
    except (SettingsError, PolicyConfigError, PeopleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        print(f"error: the program failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    if options.json:
        print(json.dumps({**summary, **({"against": {"stack": base_name, "cost": base}} if base else {})},
                         indent=2, default=str))
    elif options.cost_only:
        print(render_bill(summary["cost"]))
    else:
        _print_text(summary, time.perf_counter() - started)
    if base is not None and not options.json:
        print("\n" + render_difference(base_name, base, options.stack, summary["cost"]))
    return 3 if summary["policies"]["mandatory"] else 0


if __name__ == "__main__":
    status = main()
    # Pulumi's mock monitor leaves an event loop in each worker thread; torn down at interpreter exit they
    # print "Invalid file descriptor" noise. Everything is written: leave without the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
