"""The operators' way in: the admin API and Grafana are closed at the edge (only `edge.adminCidrs` pass), so an
operator forwards a local port through Session Manager on the NAT instance, which may reach LiteLLM and Grafana.

    python -m tools.tunnel --stack dev litellm      # then: http://localhost:4000 with the master key
    python -m tools.users --stack dev apply    # (its --url defaults to the tunnel) after editing people/dev.yaml

Needs the AWS CLI with the Session Manager plugin and `ssm:StartSession` on the NAT instance (document
AWS-StartPortForwardingSessionToRemoteHost). Stack outputs come from `pulumi stack output --json`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

from tools.cli import ToolError, command_output, run_tool, stack_outputs

PORT_FORWARDING_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"
Run = Callable[[list[str]], str]


def _run(command: list[str]) -> str:
    return command_output(command, "by tools.tunnel (the Pulumi CLI for the stack's outputs, the AWS CLI for the rest)")


def nat_instance(group_name: str, region: str | None, run: Run = _run) -> str:
    """The NAT instance in service: the auto scaling group replaces it, so its id is looked up each time."""
    query = "AutoScalingGroups[0].Instances[?LifecycleState=='InService'].InstanceId | [0]"
    command = ["aws", "autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", group_name,
               "--query", query, "--output", "text", *(["--region", region] if region else [])]
    instance = run(command).strip()
    if not instance.startswith("i-"):
        raise ToolError(f"no NAT instance in service in auto scaling group {group_name}: see the NAT alarm runbook "
                        "(docs/operations.md)")
    return instance


def session_command(instance: str, endpoint: str, local_port: int, region: str | None) -> list[str]:
    host, port = endpoint.rsplit(":", 1)
    parameters = json.dumps({"host": [host], "portNumber": [port], "localPortNumber": [str(local_port)]})
    return ["aws", "ssm", "start-session", "--target", instance, "--document-name", PORT_FORWARDING_DOCUMENT,
            "--parameters", parameters, *(["--region", region] if region else [])]


def tunnel_command(outputs: Mapping[str, Any], service: str, local_port: int | None, region: str | None,
                   run: Run = _run) -> list[str]:
    endpoints = outputs["adminEndpoints"]
    if service not in endpoints:
        raise ToolError(f"unknown service {service!r}; allowed: {sorted(endpoints)}")
    endpoint = endpoints[service]
    port = local_port or int(endpoint.rsplit(":", 1)[1])
    return session_command(nat_instance(outputs["natGroupName"], region, run), endpoint, port, region)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--region", help="the stack's region, if not the AWS CLI's default")
    parser.add_argument("--local-port", type=int, help="default: the service's own port")
    parser.add_argument("--print", action="store_true", help="print the command instead of running it")
    parser.add_argument("service", choices=["litellm", "grafana"])
    options = parser.parse_args(argv)
    command = tunnel_command(stack_outputs(options.stack), options.service, options.local_port, options.region)
    if options.print:
        print(shlex.join(command))
        return 0
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(run_tool(main))
