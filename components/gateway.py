"""The gateway: creates every unit, hands each only what it needs, and wires who may talk to whom."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from aws_limits import VPC_ORIGIN_UNSUPPORTED_ZONE_IDS
from catalog import MODEL_CATALOG
from components import grafana_alerts, litellm_config
from components.access_logs import AlbLogBucket, AlbLogBucketArgs, EdgeLogs, EdgeLogsArgs
from components.alarms import Alarms, AlarmsArgs, AlertTopic, AlertTopicArgs, EdgeAlarms
from components.alb import Alb, AlbArgs, AlbTarget
from components.bedrock import bedrock_invoke_statements
from components.cache import Cache, CacheArgs
from components.cdn import Cdn, CdnArgs
from components.certificate import Certificate, CertificateArgs, CertifiedHostname
from components.cluster import Cluster, ClusterArgs
from components.container_image import ContainerImage, ContainerImageArgs
from components.database import Database, DatabaseArgs, Restore
from components.egress_controls import BedrockEndpointArgs, EgressControls, EgressControlsArgs, allowed_names
from components.egress_probe import EgressProbe, EgressProbeArgs
from components.fargate_service import (
    STOP_TIMEOUT_SECONDS,
    Autoscaling,
    Container,
    EfsVolume,
    FargateService,
    FargateServiceArgs,
    PreDeployTask,
)
from components.iam import allow
from components.metrics_volume import NFS_PORT, MetricsVolume, MetricsVolumeArgs
from components.network import Network, NetworkArgs
from components.secrets import GeneratedSecret, Secrets, SecretsArgs
from components.waf import Waf, WafArgs
from settings import SERVICES, DatabaseRestore, Settings

LITELLM_PORT = 4000
GRAFANA_PORT = 3000
VICTORIAMETRICS_PORT = 8428
HTTPS = 443
ORIGIN_VERIFY_HEADER = "X-Origin-Verify"
CLOUDFRONT_ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"
METRICS_PATHS = ("/metrics", "/metrics/*")
GRAFANA_PATHS = ("/grafana", "/grafana/*")
LITELLM_HEALTH_PATH = "/health/liveliness"
GRAFANA_HEALTH_PATH = "/grafana/api/health"
# The ALB reuses idle connections for its whole idle timeout; a target that closes them sooner makes it answer 502
# (ELB User Guide: set the application's keep-alive timeout larger than the load balancer's idle timeout).
# uvicorn's default is 5 s; LiteLLM 1.108.7 reads KEEPALIVE_TIMEOUT (proxy_cli.py, --keepalive_timeout).
TARGET_KEEPALIVE_MARGIN_SECONDS = 30
# LiteLLM 1.108.7 switches (litellm/proxy/utils.py get_docs_url/get_redoc_url/get_openapi_url, common_utils/
# admin_ui_utils.py): no Swagger, ReDoc or OpenAPI document, no admin UI or UI sign-in.
LITELLM_HARDENING = {"NO_DOCS": "True", "NO_REDOC": "True", "NO_OPENAPI": "True", "DISABLE_ADMIN_UI": "True"}
# Nothing fetched at run time from a branch nobody here controls: LiteLLM 1.108.7 reads prices, Anthropic beta-header
# rules, autorouter presets, policy templates and blog posts from GitHub's `main` unless told to use its bundled
# copies (litellm/__init__.py, anthropic_beta_headers_manager.py, public_endpoints.py, policy endpoints, blog posts).
LITELLM_OFFLINE = {f"LITELLM_LOCAL_{name}": "True" for name in (
    "MODEL_COST_MAP", "ANTHROPIC_BETA_HEADERS", "AUTOROUTER_PRESETS", "POLICY_TEMPLATES", "BLOG_POSTS")}
# LiteLLM 1.108.7's migration gives up after 4 `prisma migrate deploy` attempts of up to 600 s each and up to 600 s
# waiting for the migration lock (litellm_proxy_extras: MAX_MIGRATE_DEPLOY_ATTEMPTS, prisma_toolchain.py); the
# deploy waits that long plus 5 minutes for the task to be placed, pull its image and start.
MIGRATION_TIMEOUT_SECONDS = 4 * 600 + 600 + 300
# On SIGTERM LiteLLM 1.108.7 lets in-flight requests finish for GRACEFUL_SHUTDOWN_TIMEOUT (default 30 s), gives uvicorn
# 10 s more (proxy_cli.py, GRACEFUL_SHUTDOWN_TEARDOWN_HEADROOM_SECONDS), then writes the spend it still holds
# (proxy_server.py, flush_spend_counters_on_shutdown). All of it must end before ECS's SIGKILL, or that spend is lost.
SPEND_FLUSH_SECONDS = 20
LITELLM_DRAIN_SECONDS = STOP_TIMEOUT_SECONDS - 10 - SPEND_FLUSH_SECONDS
PROJECT_DIR = Path(__file__).resolve().parent.parent
IMAGES_DIR = PROJECT_DIR / "images"
SECRETS = (
    GeneratedSecret(key="litellm-master-key", description="LiteLLM admin key", prefix="sk-"),
    GeneratedSecret(key="litellm-salt-key", description="LiteLLM's key for credentials it stores; never rotate",
                    permanent=True),
    GeneratedSecret(key="grafana-admin-password", description="Grafana admin password", length=32),
    # Permanent: a new value would reach RDS at once but running tasks only when they restart.
    GeneratedSecret(key="database-password", description="LiteLLM's PostgreSQL password (never rotated by AWS)",
                    length=40, permanent=True),
)
# Alphanumeric, as ElastiCache accepts for an AUTH token (16-128 characters).
CACHE_TOKEN = GeneratedSecret(key="cache-auth-token", description="AUTH token LiteLLM presents to Valkey")


def http_health(port: int, path: str) -> list[str]:
    return ["CMD-SHELL", f"wget -q -O /dev/null http://127.0.0.1:{port}{path} || exit 1"]


LITELLM_HEALTH = ["CMD-SHELL", "python -c \"import sys, urllib.request; sys.exit(urllib.request.urlopen("
                  f"'http://127.0.0.1:{LITELLM_PORT}{LITELLM_HEALTH_PATH}').status != 200)\""]


@dataclass(frozen=True, kw_only=True)
class GatewayArgs:
    settings: Settings
    # CloudFront's certificate and web ACL must live in us-east-1.
    edge_provider: aws.Provider



def _restore(setting: DatabaseRestore | None) -> Restore | None:
    if setting is None:
        return None
    return Restore(source_identifier=setting.source_identifier, time=None if setting.time == "latest" else setting.time)


class Gateway(pulumi.ComponentResource):
    """The container diagram: each step below takes what it needs and returns what it makes, in the order
    __init__ calls them (who may talk to whom is `_security_groups` and `_wire`)."""

    network: Network
    secrets: Secrets
    images: dict[str, ContainerImage]
    groups: dict[str, pulumi.Output[str]]
    alert_topic: AlertTopic
    cluster: Cluster
    database: Database
    cache: Cache | None
    metrics_volume: MetricsVolume
    alb_logs: AlbLogBucket
    alb: Alb
    origin_url: pulumi.Output[str]
    waf: Waf | None
    cdn: Cdn
    litellm: FargateService
    victoriametrics: FargateService
    grafana: FargateService
    egress_probe: EgressProbe
    alarms: Alarms

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:gateway:Gateway", name, None, opts)
        self._name, self._settings, self._edge_provider = name, args.settings, args.edge_provider
        settings = args.settings
        self._account_id = aws.get_caller_identity(opts=pulumi.InvokeOptions(parent=self)).account_id
        protected = settings.deletion_protection

        self.network = Network(f"{name}-net", NetworkArgs(
            region=settings.region, account_id=self._account_id, vpc_cidr=settings.network.vpc_cidr,
            az_count=settings.network.az_count, nat_instance_type=settings.network.nat_instance_type,
            nat_ami_id=settings.network.nat_ami_id, flow_log_traffic=settings.network.flow_log_traffic,
            log_retention_days=settings.log_retention_days, instance_tags=settings.tags,
            excluded_zone_ids={zone: "CloudFront VPC origins do not support it (edge.originMode: vpc-origin)"
                               for zone in VPC_ORIGIN_UNSUPPORTED_ZONE_IDS}
            if settings.edge.origin_mode == "vpc-origin" else {},
        ), self._child())
        self.secrets = Secrets(f"{name}-secrets", SecretsArgs(
            secrets=(*SECRETS, GeneratedSecret(key="origin-verify", description="Header CloudFront sends; the ALB "
                                               "requires it", rotation=settings.edge.origin_secret_version),
                     *([CACHE_TOKEN] if settings.shared_cache else [])),
            recovery_window_days=30 if protected else 7, protect_permanent=protected), self._child())
        self.images = {service: ContainerImage(f"{name}-{service}", ContainerImageArgs(
            context=IMAGES_DIR / service, project_dir=PROJECT_DIR, platform=self._platform(service),
            generated_files=self._generated_files(service),
            build_on_preview=settings.build_images_on_preview, force_delete=not protected,
        ), self._child()) for service in SERVICES}
        self.groups = self._security_groups()
        self.egress = self._egress_controls()
        # Nothing in the private subnets calls out before the NAT, its route and the egress controls exist.
        self._egress_ready = [*self.network.egress_ready, *self.egress.ready]
        self.alert_topic = AlertTopic(f"{name}-alarms", AlertTopicArgs(email=settings.alert_email), self._child())
        self.cluster = Cluster(f"{name}-cluster", ClusterArgs(
            vpc_id=self.network.vpc_id, namespace=self._namespace,
            container_insights=settings.container_insights), self._child())
        self.database = Database(f"{name}-db", DatabaseArgs(
            subnet_ids=self.network.private_subnet_ids, security_group_id=self.groups["postgres"],
            instance_class=settings.database.instance_class, engine_version=settings.database.engine_version,
            allocated_storage_gb=settings.database.allocated_storage_gb,
            max_allocated_storage_gb=settings.database.max_allocated_storage_gb,
            backup_retention_days=settings.database.backup_retention_days, multi_az=settings.database.multi_az,
            protected=protected, final_snapshot=settings.database.final_snapshot,
            password=self.secrets.values["database-password"], restore=_restore(settings.database.restore)),
            self._child())
        self.cache = Cache(f"{name}-cache", CacheArgs(
            subnet_ids=self.network.private_subnet_ids, security_group_id=self.groups["cache"],
            node_type=settings.cache.node_type, engine_version=settings.cache.engine_version,
            multi_az=settings.cache.multi_az, auth_token=self.secrets.values[CACHE_TOKEN.key],
            log_retention_days=settings.log_retention_days), self._child()) if settings.shared_cache else None
        self.metrics_volume = MetricsVolume(f"{name}-metrics-volume", MetricsVolumeArgs(
            subnet_ids=self.network.private_subnet_ids, security_group_id=self.groups["efs"], protected=protected),
            self._child())
        self.alb_logs = AlbLogBucket(f"{name}-alb-logs", AlbLogBucketArgs(
            region=settings.region, account_id=self._account_id, retention_days=settings.log_retention_days,
            force_destroy=not protected), self._child())
        self.alb = self._alb()
        # Where the ALB answers: the smoke test checks that it refuses requests that skip CloudFront.
        self.origin_url = pulumi.Output.concat("https://" if settings.edge.domain else "http://",
                                               self.alb.origin_domain)
        self.waf = self._waf()
        self.cdn = self._cdn(self.waf)
        EdgeLogs(f"{name}-edge-logs", EdgeLogsArgs(
            retention_days=settings.log_retention_days, distribution_arn=self.cdn.distribution_arn,
            web_acl_arn=self.waf.arn if self.waf else None), self._child(providers=[self._edge_provider]))
        # Every security group rule exists before a task or the probe starts (they are `ready_after` them).
        rules = self._wire()
        self.litellm = self._litellm(rules)
        self.victoriametrics = self._victoriametrics(rules)
        self.grafana = self._grafana(rules)
        self.egress_probe = EgressProbe(f"{name}-egress-probe", EgressProbeArgs(
            region=settings.region, account_id=self._account_id, subnet_ids=self.network.private_subnet_ids,
            security_group_id=self.groups["egress-probe"],
            log_retention_days=settings.log_retention_days,
            default_security_group_id=self.network.default_security_group_id,
            ready_after=[*rules, *self._egress_ready]), self._child())
        self.alarms = self._alarms()
        self.register_outputs({"url": self.cdn.url, "vpcId": self.network.vpc_id})

    def _alarms(self) -> Alarms:
        settings, services = self._settings, {"litellm": self.litellm, "grafana": self.grafana,
                                              "victoriametrics": self.victoriametrics}
        edge = EdgeAlarms(provider=self._edge_provider, web_acl_metric=self.waf.web_acl_metric,
                          rate_rule_metric=self.waf.rate_rule_metric) if self.waf else None
        return Alarms(f"{self._name}-alarms", AlarmsArgs(
            topic_arn=self.alert_topic.arn, alb_arn_suffix=self.alb.arn_suffix,
            target_group_arn_suffixes=self.alb.target_group_arn_suffixes,
            cluster_name=self.cluster.name, service_names={k: s.service_name for k, s in services.items()},
            container_insights=settings.container_insights != "disabled",
            minimum_tasks={k: getattr(settings, k).desired_count for k in services},
            database_identifier=self.database.identifier, nat_group_name=self.network.nat_group_name,
            egress_probe_function=self.egress_probe.function_name,
            egress_probe_every_seconds=self.egress_probe.every_seconds,
            litellm_log_group_name=self.litellm.log_group_name, metric_namespace=f"LLMGateway/{settings.stack}",
            shared_cache=self.cache is not None,
            email=settings.alert_email, edge=edge), self._child())

    @property
    def _namespace(self) -> str:
        """The private DNS namespace the services register in."""
        return f"{self._settings.environment}.llm-gateway.internal"

    def _egress_controls(self) -> EgressControls:
        settings = self._settings
        names = allowed_names(region=settings.region, bedrock_region=settings.bedrock_region,
                              account_id=self._account_id, namespace=self._namespace,
                              shared_cache=settings.shared_cache)
        endpoint = BedrockEndpointArgs(
            subnet_ids=self.network.private_subnet_ids, availability_zones=self.network.availability_zones,
            security_group_id=self.groups["bedrock-endpoint"], invoke_statements=bedrock_invoke_statements(
                settings.models, settings.bedrock_region, self._account_id)) if settings.egress.bedrock_endpoint \
            else None
        return EgressControls(f"{self._name}-egress", EgressControlsArgs(
            vpc_id=self.network.vpc_id, region=settings.region, account_id=self._account_id,
            allowed_names={**names, **{n: "egress.extraDomains" for n in settings.egress.extra_domains}}
            if settings.egress.mode == "allow-list" else None, bedrock_endpoint=endpoint), self._child())

    def _child(self, **kwargs: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _generated_files(self, service: str) -> dict[str, str]:
        """Files rendered for this stack into an image: LiteLLM's models, Grafana's alert thresholds."""
        settings = self._settings
        if service == "litellm":
            return {"config.yaml": litellm_config.render(settings.models, shared_cache=settings.shared_cache)}
        if service == "grafana":
            return {"provisioning/alerting/rules.yaml": grafana_alerts.render(settings.alerting)}
        return {}

    def _platform(self, service: str) -> str:
        return "linux/arm64" if self._settings.architecture_of(service) == "ARM64" else "linux/amd64"

    # --- edge -------------------------------------------------------------------------------------------

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
            origin_dns = CertifiedHostname(hostname=hostname, hosted_zone_id=domain.hosted_zone_id,
                                   certificate_arn=self._certificate(
                                       "origin", hostname, domain.hosted_zone_id, in_edge_region=False).arn)
        return Alb(f"{self._name}-alb", AlbArgs(
            vpc_id=self.network.vpc_id,
            subnet_ids=self.network.private_subnet_ids if internal else self.network.public_subnet_ids,
            internal=internal, security_group_id=self.groups["alb"],
            origin_verify_header=ORIGIN_VERIFY_HEADER,
            origin_verify_values=[self.secrets.values["origin-verify"], self.secrets.previous_values["origin-verify"]],
            targets=[
                AlbTarget(key="grafana", port=GRAFANA_PORT, health_check_path=GRAFANA_HEALTH_PATH,
                          path_patterns=GRAFANA_PATHS),
                AlbTarget(key="litellm", port=LITELLM_PORT, health_check_path=LITELLM_HEALTH_PATH,
                          least_outstanding_requests=True),
            ],
            blocked_paths=METRICS_PATHS, idle_timeout_seconds=edge.alb_idle_timeout_seconds,
            deregistration_delay_seconds=edge.deregistration_delay_seconds,
            deletion_protection=self._settings.deletion_protection, origin_dns=origin_dns,
            access_logs_bucket=self.alb_logs.bucket, access_logs_prefix=self.alb_logs.prefix,
            ready_after=[*self.network.internet_access, self.alb_logs.ready],
        ), self._child())

    def _waf(self) -> Waf | None:
        waf = self._settings.edge.waf
        return Waf(f"{self._name}-waf", WafArgs(rate_limit_per_5_minutes=waf.rate_limit),
                   self._child(providers=[self._edge_provider])) if waf.enabled else None

    def _cdn(self, waf: Waf | None) -> Cdn:
        edge, domain = self._settings.edge, self._settings.edge.domain
        viewer = None
        if domain:
            certificate = self._certificate("viewer", domain.name, domain.hosted_zone_id, in_edge_region=True)
            viewer = CertifiedHostname(hostname=domain.name, hosted_zone_id=domain.hosted_zone_id,
                                  certificate_arn=certificate.arn)
        return Cdn(f"{self._name}-cdn", CdnArgs(
            origin_domain=self.alb.origin_domain, origin_https=domain is not None,
            vpc_origin_alb_arn=self.alb.arn if edge.origin_mode == "vpc-origin" else None,
            origin_verify_header=ORIGIN_VERIFY_HEADER, origin_verify_value=self.secrets.values["origin-verify"],
            origin_read_timeout_seconds=edge.origin_read_timeout_seconds,
            cached_paths=["/grafana/public/*"], uncached_paths=["/grafana/*"],
            price_class=edge.price_class, http_version=edge.http_version, viewer_domain=viewer,
            ready_after=self.alb.rules,
            admin_cidrs=edge.admin_cidrs, grafana_cidrs=edge.grafana_viewers,
            model_names=[alias for name in self._settings.models for alias in MODEL_CATALOG[name].client_names],
            web_acl_arn=waf.arn if waf else None,
        ), self._child())

    # --- services ---------------------------------------------------------------------------------------

    def _service(self, key: str, container: Container, needs: pulumi.Resource, rules: list[pulumi.Resource],
                 **extra: object) -> FargateService:
        """`needs`: a unit whose every resource must exist before a task starts (listener rules, mount targets);
        `rules`: the security group rules the task's traffic needs."""
        settings, service = self._settings, getattr(self._settings, key)
        return FargateService(f"{self._name}-{key}", FargateServiceArgs(
            region=settings.region, account_id=self._account_id, cluster_arn=self.cluster.arn,
            cluster_name=self.cluster.name, namespace_id=self.cluster.namespace_id,
            subnet_ids=self.network.private_subnet_ids, security_group_id=self.groups[key],
            ready_after=[*rules, *self._egress_ready, self.cluster.capacity_providers, needs],
            key=key, namespace_name=self.cluster.namespace,
            container=container, repository_arn=self.images[key].repository_arn, cpu=service.cpu,
            memory=service.memory, architecture=settings.architecture_of(key), desired_count=service.desired_count,
            spot=service.spot, log_retention_days=settings.log_retention_days, exec_enabled=settings.exec_enabled,
            **extra), self._child())

    def _litellm(self, rules: list[pulumi.Resource]) -> FargateService:
        settings, db, secrets = self._settings, self.database, self.secrets
        scaling = settings.litellm
        environment = {
            "AWS_REGION_NAME": settings.bedrock_region,
            "DATABASE_HOST": pulumi.Output.concat(db.address, f":{db.port}"),
            "DATABASE_NAME": db.database_name, "DATABASE_USERNAME": db.username,
            "DISABLE_SCHEMA_UPDATE": "true", "LITELLM_MODE": "PRODUCTION", **LITELLM_OFFLINE,
            "KEEPALIVE_TIMEOUT": str(settings.edge.alb_idle_timeout_seconds + TARGET_KEEPALIVE_MARGIN_SECONDS),
            "GRACEFUL_SHUTDOWN_TIMEOUT": str(LITELLM_DRAIN_SECONDS),
            **LITELLM_HARDENING,
        }
        secret_env = {"LITELLM_MASTER_KEY": "litellm-master-key", "LITELLM_SALT_KEY": "litellm-salt-key",
                      "DATABASE_PASSWORD": "database-password"}
        if self.cache:
            # Read by config.yaml's coordination_redis (components/litellm_config.py).
            # REDIS_SSL too: a client LiteLLM builds from REDIS_* alone would otherwise speak plain text.
            environment |= {"REDIS_HOST": self.cache.address, "REDIS_PORT": str(self.cache.port), "REDIS_SSL": "True"}
            secret_env["REDIS_PASSWORD"] = CACHE_TOKEN.key
        return self._service("litellm", Container(
            image=self.images["litellm"].image_ref, port=LITELLM_PORT, health_check=LITELLM_HEALTH,
            environment=environment,
            secrets={variable: secrets.arns[key] for variable, key in secret_env.items()}),
            secret_arns=[secrets.arns[key] for key in secret_env.values()],
            task_policy_statements=bedrock_invoke_statements(settings.models, settings.bedrock_region,
                                                             self._account_id),
            target_group_arn=self.alb.target_group_arns["litellm"], needs=self.alb, rules=rules,
            deregistration_delay_seconds=settings.edge.deregistration_delay_seconds,
            autoscaling=Autoscaling(
                min_count=scaling.desired_count, max_count=scaling.max_count,
                cpu_target_percent=scaling.cpu_target_percent,
                requests_per_target_per_minute=scaling.requests_target,
                alb_resource_label=pulumi.Output.concat(
                    self.alb.arn_suffix, "/", self.alb.target_group_arn_suffixes["litellm"]))
            if scaling.max_count > scaling.desired_count else None,
            # Replicas never migrate (BerriAI/litellm#14400): one task runs the migrations before each rollout.
            pre_deploy=PreDeployTask(entry_point=["python", "-m", "litellm.proxy.prisma_migration"],
                                     timeout_seconds=MIGRATION_TIMEOUT_SECONDS,
                                     environment={"DISABLE_SCHEMA_UPDATE": "false"}))

    def _victoriametrics(self, rules: list[pulumi.Resource]) -> FargateService:
        volume, settings = self.metrics_volume, self._settings.victoriametrics
        return self._service("victoriametrics", Container(
            image=self.images["victoriametrics"].image_ref, port=VICTORIAMETRICS_PORT,
            health_check=http_health(VICTORIAMETRICS_PORT, "/health"),
            command=["-storageDataPath=/storage", "-promscrape.config=/etc/victoriametrics/scrape.yml",
                     "-promscrape.dnsSDCheckInterval=30s", f"-retentionPeriod={settings.retention_period}",
                     f"-httpListenAddr=:{VICTORIAMETRICS_PORT}"],
            environment={"LITELLM_HOST": self.litellm.hostname}),
            single_writer=True, needs=self.metrics_volume, rules=rules,
            volume=EfsVolume(file_system_id=volume.file_system_id, file_system_arn=volume.file_system_arn,
                             access_point_id=volume.access_point_id, access_point_arn=volume.access_point_arn,
                             container_path="/storage"))

    def _grafana(self, rules: list[pulumi.Resource]) -> FargateService:
        return self._service("grafana", Container(
            image=self.images["grafana"].image_ref, port=GRAFANA_PORT,
            health_check=http_health(GRAFANA_PORT, GRAFANA_HEALTH_PATH),
            environment={"GF_SERVER_ROOT_URL": pulumi.Output.concat(self.cdn.url, "/grafana/"),
                         "GF_SECURITY_CSRF_TRUSTED_ORIGINS": self._viewer_hostnames(),
                         "GF_SERVER_SERVE_FROM_SUB_PATH": "true", "GF_AUTH_ANONYMOUS_ENABLED": "false",
                         # Viewers reach Grafana over HTTPS only (CloudFront): its session cookie says so.
                         "GF_SECURITY_COOKIE_SECURE": "true",
                         "GF_SECURITY_ADMIN_USER": "admin", "VICTORIAMETRICS_HOST": self.victoriametrics.hostname,
                         # Read by provisioning/alerting/contact-points.yaml (topic_arn, sigv4.region).
                         "ALERT_TOPIC_ARN": self.alert_topic.arn, "AWS_REGION": self._settings.region},
            secrets={"GF_SECURITY_ADMIN_PASSWORD": self.secrets.arns["grafana-admin-password"]}),
            secret_arns=[self.secrets.arns["grafana-admin-password"]],
            # Grafana's SNS contact point publishes with the task role (no keys: the SDK's default chain).
            task_policy_statements=[allow(["sns:Publish"], [self.alert_topic.arn], sid="PublishAlerts")],
            target_group_arn=self.alb.target_group_arns["grafana"], needs=self.alb, rules=rules,
            deregistration_delay_seconds=self._settings.edge.deregistration_delay_seconds)

    def _viewer_hostnames(self) -> pulumi.Output[str]:
        """Grafana answers 403 "origin not allowed" to a logged-in browser's POST whose Origin hostname is neither
        the request's Host (here the ALB's, as CloudFront does not forward Host) nor listed here: bare hostnames,
        space-separated (pkg/middleware/csrf/csrf.go, `csrf_trusted_origins`; grafana/grafana#46321)."""
        domain = self._settings.edge.domain
        return self.cdn.domain_name.apply(lambda name: " ".join([name, *([domain.name] if domain else [])]))

    # --- who may talk to whom ---------------------------------------------------------------------------

    def _security_groups(self) -> dict[str, pulumi.Output[str]]:
        """One empty group per unit; `_wire` alone decides what they admit and reach."""
        units = {"alb": "Gateway ALB", "litellm": "LiteLLM tasks", "grafana": "Grafana tasks",
                 "victoriametrics": "VictoriaMetrics tasks", "postgres": "LiteLLM database",
                 "efs": "Metrics volume (NFS)", "egress-probe": "Egress probe (HTTPS through the NAT)",
                 **({"cache": "LiteLLM shared Valkey"} if self._settings.shared_cache else {}),
                 **({"bedrock-endpoint": "Bedrock runtime endpoint (model calls from LiteLLM)"}
                    if self._settings.egress.bedrock_endpoint else {})}
        groups = {key: aws.ec2.SecurityGroup(f"{self._name}-{key}-sg", vpc_id=self.network.vpc_id,
                                             description=description, opts=self._child()).id
                  for key, description in units.items()}
        # The NAT instance doubles as the operators' way in: Session Manager port forwarding from it.
        return {**groups, "nat": self.network.nat_security_group_id}

    def _allow(self, source: str, target: str, port: int) -> list[pulumi.Resource]:
        """One permitted flow: egress on the source's group and ingress on the target's, naming each other."""
        flow, source_group, target_group = f"{source}-to-{target}", self.groups[source], self.groups[target]
        return [
            aws.vpc.SecurityGroupEgressRule(
                f"{self._name}-{flow}-out", security_group_id=source_group, referenced_security_group_id=target_group,
                ip_protocol="tcp", from_port=port, to_port=port, description=f"to {target}", opts=self._child()),
            aws.vpc.SecurityGroupIngressRule(
                f"{self._name}-{flow}-in", security_group_id=target_group, referenced_security_group_id=source_group,
                ip_protocol="tcp", from_port=port, to_port=port, description=f"from {source}", opts=self._child()),
        ]

    def _allow_from_cloudfront(self, port: int) -> pulumi.Resource:
        prefix_list = aws.ec2.get_managed_prefix_list_output(
            name=CLOUDFRONT_ORIGIN_FACING, opts=pulumi.InvokeOutputOptions(parent=self))
        return aws.vpc.SecurityGroupIngressRule(
            f"{self._name}-cloudfront-to-alb-in", security_group_id=self.groups["alb"], prefix_list_id=prefix_list.id,
            ip_protocol="tcp", from_port=port, to_port=port, description="CloudFront origin-facing addresses",
            opts=self._child())

    def _allow_https_out(self, source: str) -> pulumi.Resource:
        return aws.vpc.SecurityGroupEgressRule(
            f"{self._name}-{source}-https-out", security_group_id=self.groups[source], cidr_ipv4="0.0.0.0/0",
            ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS, description="AWS APIs over HTTPS, through the NAT",
            opts=self._child())

    def _wire(self) -> list[pulumi.Resource]:
        """Who may talk to whom, and nothing else. Tasks start only once these rules exist."""
        return [
            self._allow_from_cloudfront(self.alb.listener_port),
            *self._allow("alb", "litellm", LITELLM_PORT),
            *self._allow("alb", "grafana", GRAFANA_PORT),
            *self._allow("grafana", "victoriametrics", VICTORIAMETRICS_PORT),
            *self._allow("victoriametrics", "litellm", LITELLM_PORT),
            *self._allow("litellm", "postgres", self.database.port),
            *(self._allow("litellm", "cache", self.cache.port) if self.cache else []),
            *(self._allow("litellm", "bedrock-endpoint", HTTPS) if self.egress.bedrock_endpoint_id else []),
            # Operators, through Session Manager on the NAT instance (no inbound port, IAM-authorized).
            *self._allow("nat", "litellm", LITELLM_PORT),
            *self._allow("nat", "grafana", GRAFANA_PORT),
            *self._allow("victoriametrics", "efs", NFS_PORT),
            *(self._allow_https_out(unit) for unit in (*SERVICES, "egress-probe")),
        ]
