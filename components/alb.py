"""Application load balancer: path routing to the services, answering only CloudFront carrying the origin secret.

Every forwarding rule requires the origin-verify header CloudFront adds; anything without it gets a fixed
403 from the default action. Blocked paths (metrics) get a fixed 404 before any forwarding rule is tried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.certificate import CertifiedHostname

HTTP, HTTPS = 80, 443
# Current TLS 1.2+ policy for an HTTPS listener (CloudFront speaks TLS 1.2 to origins).
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
BLOCKED_PRIORITY = 10
FIRST_ROUTE_PRIORITY = 100
CATCH_ALL_PRIORITY = 1000


@dataclass(frozen=True, kw_only=True)
class AlbTarget:
    """A service behind the ALB. No path patterns: it takes every request no other rule takes."""

    key: str
    port: int
    health_check_path: str
    path_patterns: tuple[str, ...] = ()
    least_outstanding_requests: bool = False


@dataclass(frozen=True, kw_only=True)
class AlbArgs:
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    internal: bool
    security_group_id: pulumi.Input[str]
    origin_verify_header: str
    # The values accepted: the current one and, while CloudFront switches after a rotation, the previous one.
    origin_verify_values: Sequence[pulumi.Input[str]]
    targets: Sequence[AlbTarget]
    blocked_paths: tuple[str, ...]
    idle_timeout_seconds: int
    deregistration_delay_seconds: int
    deletion_protection: bool
    # The hostname CloudFront uses for this origin over HTTPS, with a certificate in the ALB's region.
    origin_dns: CertifiedHostname | None = None
    # Where access logs go (an S3 bucket whose policy admits ELB's log delivery, and a key prefix).
    access_logs_bucket: pulumi.Input[str]
    access_logs_prefix: str
    # The internet gateway and its route (an internet-facing ALB needs them, and so does a CloudFront VPC origin),
    # and the log bucket's policy (the ALB checks it may write there).
    ready_after: Sequence[pulumi.Resource] = ()


# ELB User Guide, "Listener rules for your Application Load Balancer" (condition types): "You can specify up to
# three match evaluations per condition" and "up to five match evaluations per rule".
MAX_VALUES_PER_CONDITION = 3
MAX_VALUES_PER_RULE = 5
# The origin-verify header takes two values (current and previous secret).
MAX_PATHS_PER_RULE = min(MAX_VALUES_PER_CONDITION, MAX_VALUES_PER_RULE - 2)


def _check_routes(args: AlbArgs) -> None:
    catch_all = [t.key for t in args.targets if not t.path_patterns]
    if len(catch_all) != 1:
        raise ValueError(f"exactly one ALB target must take unrouted requests; got {catch_all}")
    too_many = [t.key for t in args.targets if len(t.path_patterns) > MAX_PATHS_PER_RULE]
    if too_many or len(args.blocked_paths) > MAX_PATHS_PER_RULE:
        raise ValueError(f"an ALB rule takes at most {MAX_PATHS_PER_RULE} path patterns: {too_many or 'blocked'}")


class Alb(pulumi.ComponentResource):
    arn: pulumi.Output[str]
    dns_name: pulumi.Output[str]
    origin_domain: pulumi.Output[str]
    listener_port: int
    target_group_arns: dict[str, pulumi.Output[str]]
    target_group_arn_suffixes: dict[str, pulumi.Output[str]]
    arn_suffix: pulumi.Output[str]
    rules: list[pulumi.Resource]

    def __init__(self, name: str, args: AlbArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:edge:Alb", name, None, opts)
        _check_routes(args)
        self._name, self._args = name, args
        self.listener_port = HTTPS if args.origin_dns else HTTP
        balancer = aws.lb.LoadBalancer(
            f"{name}-lb", load_balancer_type="application", internal=args.internal, subnets=list(args.subnet_ids),
            security_groups=[args.security_group_id], idle_timeout=args.idle_timeout_seconds,
            drop_invalid_header_fields=True, desync_mitigation_mode="defensive",
            enable_deletion_protection=args.deletion_protection,
            access_logs={"bucket": args.access_logs_bucket, "prefix": args.access_logs_prefix, "enabled": True},
            opts=self._child(depends_on=list(args.ready_after)))
        self.arn, self.dns_name, self.arn_suffix = balancer.arn, balancer.dns_name, balancer.arn_suffix
        groups = {t.key: self._target_group(t, balancer) for t in args.targets}
        self.rules = []
        self.target_group_arns = {k: g.arn for k, g in groups.items()}
        self.target_group_arn_suffixes = {k: g.arn_suffix for k, g in groups.items()}
        self._route(self._listener(balancer), groups)
        self.origin_domain = self._origin_record(balancer, args.origin_dns) if args.origin_dns else balancer.dns_name
        self.register_outputs({"arn": self.arn, "dnsName": self.dns_name})

    def _child(self, **kwargs: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _target_group(self, target: AlbTarget, balancer: aws.lb.LoadBalancer) -> aws.lb.TargetGroup:
        return aws.lb.TargetGroup(
            f"{self._name}-tg-{target.key}", target_type="ip", protocol="HTTP", port=target.port,
            vpc_id=self._args.vpc_id, deregistration_delay=self._args.deregistration_delay_seconds,
            load_balancing_algorithm_type="least_outstanding_requests" if target.least_outstanding_requests
            else "round_robin",
            health_check={"path": target.health_check_path, "matcher": "200", "interval": 15, "timeout": 5,
                          "healthy_threshold": 2, "unhealthy_threshold": 3},
            # A target group serves one load balancer: a replaced ALB (e.g. another edge.originMode) needs new ones.
            opts=self._child(replace_with=[balancer]))

    def _listener(self, balancer: aws.lb.LoadBalancer) -> aws.lb.Listener:
        tls = ({"protocol": "HTTPS", "ssl_policy": TLS_POLICY, "certificate_arn": self._args.origin_dns.certificate_arn}
               if self._args.origin_dns else {"protocol": "HTTP"})
        return aws.lb.Listener(
            f"{self._name}-listener", load_balancer_arn=balancer.arn, port=self.listener_port, **tls,
            default_actions=[{"type": "fixed-response", "fixed_response": {
                "content_type": "text/plain", "status_code": "403", "message_body": "Forbidden"}}],
            opts=self._child())

    def _rule(self, key: str, listener: aws.lb.Listener, priority: int, action: dict,
              paths: tuple[str, ...]) -> None:
        conditions: list[dict] = [{"http_header": {"http_header_name": self._args.origin_verify_header,
                                                   "values": list(self._args.origin_verify_values)}}]
        if paths:
            conditions.append({"path_pattern": {"values": list(paths)}})
        self.rules.append(aws.lb.ListenerRule(
            f"{self._name}-rule-{key}", listener_arn=listener.arn, priority=priority, actions=[action],
            conditions=conditions, opts=self._child()))

    def _route(self, listener: aws.lb.Listener, groups: dict[str, aws.lb.TargetGroup]) -> None:
        self._rule("blocked", listener, BLOCKED_PRIORITY, {"type": "fixed-response", "fixed_response": {
            "content_type": "text/plain", "status_code": "404", "message_body": "Not Found"}},
            self._args.blocked_paths)
        routed = [t for t in self._args.targets if t.path_patterns]
        for offset, target in enumerate(routed):
            self._rule(target.key, listener, FIRST_ROUTE_PRIORITY + 10 * offset,
                       {"type": "forward", "target_group_arn": groups[target.key].arn}, target.path_patterns)
        for target in (t for t in self._args.targets if not t.path_patterns):
            self._rule(target.key, listener, CATCH_ALL_PRIORITY,
                       {"type": "forward", "target_group_arn": groups[target.key].arn}, ())

    def _origin_record(self, balancer: aws.lb.LoadBalancer, dns: CertifiedHostname) -> pulumi.Output[str]:
        record = aws.route53.Record(
            f"{self._name}-origin", zone_id=dns.hosted_zone_id, name=dns.hostname, type="A",
            aliases=[{"name": balancer.dns_name, "zone_id": balancer.zone_id, "evaluate_target_health": True}],
            opts=self._child())
        return record.fqdn
