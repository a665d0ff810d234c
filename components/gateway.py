"""The gateway: creates every unit, hands each only what it needs, and wires who may talk to whom."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.alb import Alb, AlbArgs, AlbTarget, OriginDns
from components.cdn import Cdn, CdnArgs, ViewerDomain
from components.certificate import Certificate, CertificateArgs
from components.network import Network, NetworkArgs
from components.secrets import GeneratedSecret, Secrets, SecretsArgs
from components.waf import Waf, WafArgs
from settings import Settings

LITELLM_PORT = 4000
GRAFANA_PORT = 3000
ORIGIN_VERIFY_HEADER = "X-Origin-Verify"
CLOUDFRONT_ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"
METRICS_PATHS = ("/metrics", "/metrics/*")
GRAFANA_PATHS = ("/grafana", "/grafana/*")


@dataclass(frozen=True, kw_only=True)
class GatewayArgs:
    settings: Settings
    # CloudFront's certificate and web ACL must live in us-east-1.
    edge_provider: aws.Provider


class Gateway(pulumi.ComponentResource):
    network: Network
    alb: Alb
    cdn: Cdn

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:gateway:Gateway", name, None, opts)
        self._name, self._settings, self._edge_provider = name, args.settings, args.edge_provider
        settings = args.settings
        account_id = aws.get_caller_identity(opts=pulumi.InvokeOptions(parent=self)).account_id

        self.network = Network(f"{name}-net", NetworkArgs(
            region=settings.region, account_id=account_id, vpc_cidr=settings.network.vpc_cidr,
            az_count=settings.network.az_count, nat_instance_type=settings.network.nat_instance_type,
            nat_ami_id=settings.network.nat_ami_id, flow_log_traffic=settings.network.flow_log_traffic,
            log_retention_days=settings.log_retention_days, instance_tags=settings.tags,
        ), self._child())
        self.secrets = Secrets(f"{name}-secrets", SecretsArgs(
            secrets=[GeneratedSecret(key="origin-verify", description="Header CloudFront sends; the ALB requires it")],
            recovery_window_days=30 if settings.deletion_protection else 7,
        ), self._child())
        self.alb = self._alb()
        self.cdn = self._cdn()
        self._wire()
        self.register_outputs({"url": self.cdn.url, "vpcId": self.network.vpc_id})

    def _child(self, **kwargs: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _certificate(self, key: str, hostname: str, zone_id: str, in_edge_region: bool) -> Certificate:
        options = self._child(providers=[self._edge_provider]) if in_edge_region else self._child()
        return Certificate(f"{self._name}-{key}-cert", CertificateArgs(domain_name=hostname, hosted_zone_id=zone_id),
                           options)

    def _alb(self) -> Alb:
        edge, domain = self._settings.edge, self._settings.edge.domain
        internal = edge.origin_mode == "vpc-origin"
        origin_dns = None
        if domain:
            hostname = f"origin.{domain.name}"
            origin_dns = OriginDns(hostname=hostname, hosted_zone_id=domain.hosted_zone_id,
                                   certificate_arn=self._certificate(
                "origin", hostname, domain.hosted_zone_id, in_edge_region=False).arn)
        prefix_list = aws.ec2.get_managed_prefix_list_output(
            name=CLOUDFRONT_ORIGIN_FACING, opts=pulumi.InvokeOutputOptions(parent=self))
        return Alb(f"{self._name}-alb", AlbArgs(
            vpc_id=self.network.vpc_id,
            subnet_ids=self.network.private_subnet_ids if internal else self.network.public_subnet_ids,
            internal=internal, ingress_prefix_list_id=prefix_list.id,
            origin_verify_header=ORIGIN_VERIFY_HEADER, origin_verify_value=self.secrets.values["origin-verify"],
            targets=[
                AlbTarget(key="grafana", port=GRAFANA_PORT, health_check_path="/grafana/api/health",
                          path_patterns=GRAFANA_PATHS),
                AlbTarget(key="litellm", port=LITELLM_PORT, health_check_path="/health/liveliness",
                          least_outstanding_requests=True),
            ],
            blocked_paths=METRICS_PATHS, idle_timeout_seconds=edge.alb_idle_timeout_seconds,
            deregistration_delay_seconds=edge.deregistration_delay_seconds,
            deletion_protection=self._settings.deletion_protection, origin_dns=origin_dns,
        ), self._child())

    def _cdn(self) -> Cdn:
        edge, domain = self._settings.edge, self._settings.edge.domain
        viewer = None
        if domain:
            certificate = self._certificate("viewer", domain.name, domain.hosted_zone_id, in_edge_region=True)
            viewer = ViewerDomain(hostname=domain.name, hosted_zone_id=domain.hosted_zone_id,
                                  certificate_arn=certificate.arn)
        waf = None
        if edge.waf.enabled:
            waf = Waf(f"{self._name}-waf", WafArgs(rate_limit_per_5_minutes=edge.waf.rate_limit_per_5_minutes),
                      self._child(providers=[self._edge_provider]))
        return Cdn(f"{self._name}-cdn", CdnArgs(
            origin_domain=self.alb.origin_domain, origin_https=domain is not None,
            vpc_origin_alb_arn=self.alb.arn if edge.origin_mode == "vpc-origin" else None,
            origin_verify_header=ORIGIN_VERIFY_HEADER, origin_verify_value=self.secrets.values["origin-verify"],
            origin_read_timeout_seconds=edge.origin_read_timeout_seconds,
            cached_paths=["/grafana/public/*"], uncached_paths=["/grafana/*"],
            price_class=edge.price_class, http_version=edge.http_version, viewer_domain=viewer,
            web_acl_arn=waf.arn if waf else None,
        ), self._child())

    def _allow_to_cidrs(self, key: str, group_id: pulumi.Input[str], port: int, cidrs: list[str]) -> None:
        for index, cidr in enumerate(cidrs):
            aws.vpc.SecurityGroupEgressRule(
                f"{self._name}-{key}-{index}", security_group_id=group_id, ip_protocol="tcp", from_port=port,
                to_port=port, cidr_ipv4=cidr, description=f"{key} (port {port})", opts=self._child())

    def _wire(self) -> None:
        """Who may talk to whom. Ingress to the ALB (CloudFront only) is the ALB's own rule."""
        private = self.network.private_subnet_cidrs
        self._allow_to_cidrs("alb-to-litellm", self.alb.security_group_id, LITELLM_PORT, private)
        self._allow_to_cidrs("alb-to-grafana", self.alb.security_group_id, GRAFANA_PORT, private)
