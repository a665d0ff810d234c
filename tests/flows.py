"""Who talks to whom inside the VPC at run time, with the source each row comes from: judged statically on the plan
(test_runtime_contracts) and with real connections in the VPC twin (test_vpc_twin)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from offline.engine import Graph


@dataclass(frozen=True)
class Flow:
    caller: str
    target: str
    port: Callable[[Graph], int]
    why: str
    # A resource type the flow exists with (the cache only where the stack plans one).
    only_with: str | None = None

    def applies(self, graph: Graph) -> bool:
        return self.only_with is None or bool(graph.of_type(self.only_with))


def _port(value: int) -> Callable[[Graph], int]:
    return lambda graph: value


def listener_port(graph: Graph) -> int:
    return graph.one("aws:lb/listener:Listener").inputs["port"]


def _target_port(key: str) -> Callable[[Graph], int]:
    return lambda graph: graph.one("aws:lb/targetGroup:TargetGroup", f"tg-{key}").inputs["port"]


FLOWS = [
    Flow("alb", "litellm", _target_port("litellm"), "ALB forwards /v1/* and health-checks /health/liveliness"),
    Flow("alb", "grafana", _target_port("grafana"), "ALB forwards /grafana/* and health-checks /grafana/api/health"),
    Flow("victoriametrics", "litellm", _port(4000), "scrape.yml: dns_sd_configs on %{LITELLM_HOST}, port 4000"),
    Flow("grafana", "victoriametrics", _port(8428), "datasource: http://%{VICTORIAMETRICS_HOST}:8428"),
    Flow("litellm", "postgres", _port(5432), "LiteLLM: DATABASE_HOST:5432"),
    Flow("migration", "postgres", _port(5432), "the migration task (LiteLLM's group): DATABASE_HOST:5432"),
    Flow("litellm", "cache", _port(6379), "coordination_redis: REDIS_HOST:6379 with TLS",
         only_with="aws:elasticache/replicationGroup:ReplicationGroup"),
    Flow("victoriametrics", "efs", _port(2049), "the EFS volume: NFS with TLS on 2049"),
    Flow("nat", "litellm", _port(4000), "operators: Session Manager port forwarding on the NAT (tools.tunnel)"),
    Flow("nat", "grafana", _port(3000), "operators: Session Manager port forwarding on the NAT (tools.tunnel)"),
]
