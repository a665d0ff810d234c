"""CloudFront: the gateway's only public entry. TLS for viewers, nothing cached on the API, streams untouched.

The API behaviour passes every viewer header but Host (Authorization, x-api-key, anthropic-version and
anthropic-beta must reach LiteLLM), allows all seven methods and compresses nothing. Grafana's static files
are cached; the rest of Grafana is not. The origin-verify header rides on every origin request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.certificate import CertifiedHostname
from components.edge.public_api import route_patterns
from components.naming import stack_unique

ORIGIN_ID = "alb"
VIEWER_REQUEST_JS = Path(__file__).resolve().parent / "edge" / "viewer_request.js"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
READ_METHODS = ["GET", "HEAD"]
QUOTA_READ_TIMEOUT_SECONDS = 60
KEEPALIVE_SECONDS = 60
VIEWER_TLS = "TLSv1.2_2021"
# Two years, the value hstspreload.org asks of a site (and MDN's example).
HSTS_MAX_AGE_SECONDS = 2 * 365 * 24 * 3600


@dataclass(frozen=True, kw_only=True)
class CdnArgs:
    origin_domain: pulumi.Input[str]
    origin_https: bool
    # Reach an internal ALB through a CloudFront VPC origin (None: the ALB is internet-facing).
    vpc_origin_alb_arn: pulumi.Input[str] | None
    origin_verify_header: str
    origin_verify_value: pulumi.Input[str]
    origin_read_timeout_seconds: int
    cached_paths: Sequence[str]
    uncached_paths: Sequence[str]
    price_class: str
    http_version: str
    # The names clients may ask for models by (GET /v1/models/<name> is public for these alone).
    model_names: Sequence[str]
    # Viewer ranges that reach everything, and those that reach Grafana (the edge function's allow lists).
    admin_cidrs: Sequence[str] = ()
    grafana_cidrs: Sequence[str] = ()
    # The viewers' hostname, with a certificate in us-east-1.
    viewer_domain: CertifiedHostname | None = None
    web_acl_arn: pulumi.Input[str] | None = None
    # The ALB's rules: after a secret rotation they must accept the new value before CloudFront sends it.
    ready_after: Sequence[pulumi.Resource] = ()


def viewer_request_code(admin_cidrs: Sequence[str], grafana_cidrs: Sequence[str], model_names: Sequence[str]) -> str:
    code = VIEWER_REQUEST_JS.read_text()
    return code.replace("__ADMIN_CIDRS__", json.dumps(list(admin_cidrs))).replace(
        "__GRAFANA_CIDRS__", json.dumps(list(grafana_cidrs))).replace(
        "__PUBLIC_ROUTES__", json.dumps(route_patterns(model_names)))


class Cdn(pulumi.ComponentResource):
    url: pulumi.Output[str]
    domain_name: pulumi.Output[str]
    distribution_id: pulumi.Output[str]
    distribution_arn: pulumi.Output[str]

    def __init__(self, name: str, args: CdnArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:edge:Cdn", name, None, opts)
        self._name, self._args = name, args
        if args.origin_read_timeout_seconds > QUOTA_READ_TIMEOUT_SECONDS:
            pulumi.log.warn(f"origin read timeout {args.origin_read_timeout_seconds} s needs the CloudFront quota "
                            f"'Response timeout per origin' raised above {QUOTA_READ_TIMEOUT_SECONDS} s", self)
        self._policies = self._managed_policies()
        self._guard = self._viewer_request_function()
        self._security_headers = self._security_headers_policy()
        distribution = aws.cloudfront.Distribution(
            f"{name}-distribution", enabled=True, is_ipv6_enabled=True, comment="LLM gateway",
            http_version=args.http_version, price_class=args.price_class,
            origins=[self._origin()],
            default_cache_behavior=self._behavior(None, "disabled", compress=False),
            ordered_cache_behaviors=[
                *(self._behavior(p, "optimized", compress=True, methods=READ_METHODS) for p in args.cached_paths),
                *(self._behavior(p, "disabled", compress=True) for p in args.uncached_paths),
            ],
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate=self._viewer_certificate(),
            aliases=[args.viewer_domain.hostname] if args.viewer_domain else [],
            web_acl_id=args.web_acl_arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.ready_after)))
        self.domain_name, self.distribution_id = distribution.domain_name, distribution.id
        self.distribution_arn = distribution.arn
        if args.viewer_domain:
            self._alias_records(distribution, args.viewer_domain)
            self.url = pulumi.Output.from_input(f"https://{args.viewer_domain.hostname}")
        else:
            self.url = pulumi.Output.concat("https://", distribution.domain_name)
        self.register_outputs({"url": self.url, "distributionId": self.distribution_id})

    def _managed_policies(self) -> dict[str, pulumi.Output[str]]:
        invoke = pulumi.InvokeOutputOptions(parent=self)
        return {
            "disabled": aws.cloudfront.get_cache_policy_output(name="Managed-CachingDisabled", opts=invoke).id,
            "optimized": aws.cloudfront.get_cache_policy_output(name="Managed-CachingOptimized", opts=invoke).id,
            "all_viewer": aws.cloudfront.get_origin_request_policy_output(
                name="Managed-AllViewerExceptHostHeader", opts=invoke).id,
        }

    def _origin(self) -> dict:
        args = self._args
        origin: dict = {"origin_id": ORIGIN_ID, "domain_name": args.origin_domain,
                        "custom_headers": [{"name": args.origin_verify_header, "value": args.origin_verify_value}]}
        timeouts = {"origin_read_timeout": args.origin_read_timeout_seconds,
                    "origin_keepalive_timeout": KEEPALIVE_SECONDS}
        if args.vpc_origin_alb_arn is not None:
            vpc_origin = self._vpc_origin(args.vpc_origin_alb_arn)
            origin["vpc_origin_config"] = {"vpc_origin_id": vpc_origin.id, **timeouts}
        else:
            origin["custom_origin_config"] = {
                "http_port": 80, "https_port": 443, "origin_ssl_protocols": ["TLSv1.2"],
                "origin_protocol_policy": "https-only" if args.origin_https else "http-only", **timeouts}
        return origin

    def _vpc_origin(self, alb_arn: pulumi.Input[str]) -> aws.cloudfront.VpcOrigin:
        """AWS rejects updating a VPC origin a distribution uses (409, hashicorp/terraform-provider-aws#40905), so a
        change replaces it: a new origin, named after its configuration, is created, the distribution moves to it,
        then the old one is deleted. Deploying one takes up to 15 minutes, the provider's default timeout."""
        protocol = "https-only" if self._args.origin_https else "http-only"
        name = pulumi.Output.from_input(alb_arn).apply(
            lambda arn: f"{stack_unique(self._name)}-{hashlib.sha256(f'{arn} {protocol}'.encode()).hexdigest()[:8]}")
        return aws.cloudfront.VpcOrigin(f"{self._name}-vpc-origin", vpc_origin_endpoint_config={
            "name": name, "arn": alb_arn, "http_port": 80, "https_port": 443, "origin_protocol_policy": protocol,
            "origin_ssl_protocols": {"items": ["TLSv1.2"], "quantity": 1}},
            opts=pulumi.ResourceOptions(parent=self, replace_on_changes=["vpcOriginEndpointConfig"],
                                        custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m",
                                                                              delete="30m")))

    def _behavior(self, path: str | None, cache_policy: str, compress: bool, methods: list[str] | None = None) -> dict:
        """No `methods`: a dynamic behaviour, all methods, every viewer header but Host forwarded."""
        behavior = {
            "target_origin_id": ORIGIN_ID, "viewer_protocol_policy": "redirect-to-https",
            "allowed_methods": methods or ALL_METHODS, "cached_methods": READ_METHODS,
            "cache_policy_id": self._policies[cache_policy], "compress": compress,
        }
        if methods is None:
            behavior["origin_request_policy_id"] = self._policies["all_viewer"]
        behavior["function_associations"] = [{"event_type": "viewer-request", "function_arn": self._guard.arn}]
        behavior["response_headers_policy_id"] = self._security_headers.id
        return behavior if path is None else {"path_pattern": path, **behavior}

    def _security_headers_policy(self) -> aws.cloudfront.ResponseHeadersPolicy:
        """HSTS on every answer (viewers are already redirected to HTTPS; this keeps browsers from trying HTTP
        again), without subdomains (a company's other names are not ours to pin), and nosniff."""
        return aws.cloudfront.ResponseHeadersPolicy(
            f"{self._name}-security-headers", name=stack_unique(f"{self._name}-security-headers"),
            comment="HSTS and nosniff on every answer", security_headers_config={
                "strict_transport_security": {"access_control_max_age_sec": HSTS_MAX_AGE_SECONDS,
                                              "include_subdomains": False, "preload": False, "override": True},
                "content_type_options": {"override": True}},
            opts=pulumi.ResourceOptions(parent=self))

    def _viewer_request_function(self) -> aws.cloudfront.Function:
        """Every behaviour runs it before anything reaches the origin: where the true viewer address is known."""
        return aws.cloudfront.Function(
            f"{self._name}-viewer-request", runtime="cloudfront-js-2.0", publish=True,
            comment="Inference API for everyone; admin plane and Grafana for listed addresses",
            code=viewer_request_code(self._args.admin_cidrs, self._args.grafana_cidrs, self._args.model_names),
            opts=pulumi.ResourceOptions(parent=self))

    def _viewer_certificate(self) -> dict:
        domain = self._args.viewer_domain
        if domain is None:
            return {"cloudfront_default_certificate": True}
        return {"acm_certificate_arn": domain.certificate_arn, "ssl_support_method": "sni-only",
                "minimum_protocol_version": VIEWER_TLS}

    def _alias_records(self, distribution: aws.cloudfront.Distribution, domain: CertifiedHostname) -> None:
        for record_type in ("A", "AAAA"):
            aws.route53.Record(
                f"{self._name}-{record_type.lower()}", zone_id=domain.hosted_zone_id, name=domain.hostname,
                type=record_type, aliases=[{"name": distribution.domain_name, "zone_id": distribution.hosted_zone_id,
                                            "evaluate_target_health": False}],
                opts=pulumi.ResourceOptions(parent=self))
