"""Offline plan: what `pulumi up` would create for a stack, without the Pulumi CLI, credentials or network.

    python -m offline.plan dev            # readable, grouped by component
    python -m offline.plan prod --json    # the same for tools

Runs the real program under the recording mock engine. Exits 1 on any error, 2 on bad stack settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

from offline.engine import Graph, Resource, run
from settings import SettingsError

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
}


def _review(resource: Resource) -> dict[str, Any]:
    keys = REVIEW_KEYS.get(resource.type, ())
    shown = {k: resource.inputs[k] for k in keys if resource.inputs.get(k) not in (None, "", [], {})}
    if resource.protect:
        shown["protect"] = True
    return shown


def summarize(graph: Graph) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for resource in graph.resources:
        if not resource.custom and not resource.is_provider:
            continue
        owner = graph.component_of(resource)
        label = f"{owner.type} {owner.name}" if owner else "stack"
        groups.setdefault(label, []).append({"type": resource.type, "name": resource.name, **_review(resource)})
    counts = Counter(r.type for r in graph.resources if r.custom or r.is_provider)
    return {
        "stack": graph.stack,
        "components": groups,
        "counts": dict(sorted(counts.items())),
        "total": sum(counts.values()),
        "outputs": graph.outputs,
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
    print(f"\nPlanned in {seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    options = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        summary = summarize(run(options.stack))
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        print(f"error: the program failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    if options.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _print_text(summary, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    status = main()
    # Close Pulumi's event loop here; left to the interpreter's exit it complains about a closed pipe.
    asyncio.get_event_loop().close()
    sys.exit(status)
