"""Stack settings: the one typed, validated, immutable object the program is built from.

Config flows one way: stack YAML -> `load_settings` -> `Settings` -> components. Every default lives
in this file; what it is checked against lives beside it: the model catalogue and prices (catalog.py) and AWS's
limits (aws_limits.py). Bad input raises `SettingsError` naming each offending key, before any resource exists.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pulumi.runtime import config as runtime_config
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from aws_limits import (
    FARGATE_MEMORY_BY_CPU,
    LOG_RETENTION_DAYS,
    MAX_STACK_TAGS,
    PRIVATE_RANGES,
    TAG_CHARACTERS,
    VPC_ORIGIN_MAX_READ_TIMEOUT_SECONDS,
    VPC_ORIGIN_REGIONS,
)
from catalog import MODEL_CATALOG, US_PROFILE_REGIONS

PROJECT = "llm-gateway"
# The Fargate services, as their settings keys.
SERVICES = ("litellm", "grafana", "victoriametrics")

class SettingsError(ValueError):
    """Stack configuration that cannot be deployed; the message names every offending key."""


def _private_cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value)
    except ValueError as error:
        raise ValueError(f"{value!r} is not an IPv4 CIDR such as 10.10.0.0/16 ({error})") from None
    if network.version != 4 or not any(network.subnet_of(r) for r in PRIVATE_RANGES):
        raise ValueError(f"{value!r} is not private; allowed: inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
    if not 16 <= network.prefixlen <= 24:
        raise ValueError(f"prefix /{network.prefixlen} is not allowed; allowed: /16 to /24")
    return str(network)


def _log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"{value} is not a CloudWatch retention; allowed: {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return value


def _tags(tags: dict[str, str]) -> dict[str, str]:
    problems = []
    if len(tags) > MAX_STACK_TAGS:
        problems.append(f"{len(tags)} tags; allowed: at most {MAX_STACK_TAGS}")
    for key, value in tags.items():
        if key.lower().startswith("aws:"):
            problems.append(f"key {key!r} uses the reserved 'aws:' prefix")
        if not 1 <= len(key) <= 128:
            problems.append(f"key {key[:40]!r}... is {len(key)} characters; allowed: 1 to 128")
        if len(value) > 256:
            problems.append(f"value of {key!r} is {len(value)} characters; allowed: at most 256")
        if not TAG_CHARACTERS.match(key) or not TAG_CHARACTERS.match(value):
            problems.append(f"{key!r}: allowed characters are letters, digits, spaces and _ . : / = + - @")
    if problems:
        raise ValueError("; ".join(problems))
    return tags


def _known_models(names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in MODEL_CATALOG]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; allowed: {sorted(MODEL_CATALOG)}")
    if len(set(names)) != len(names):
        raise ValueError("a model is listed twice")
    return names


def _stack_name(value: str) -> str:
    if not re.fullmatch(r"[a-z]([a-z0-9-]{0,30}[a-z0-9])?", value) or "--" in value:
        raise ValueError(f"stack name {value!r} is used in AWS names (ECS families, RDS snapshot identifiers); "
                         "allowed: 1 to 32 lowercase letters, digits and single hyphens, starting with a letter, "
                         "not ending with a hyphen")
    return value


def _allowed_domain(value: str) -> str:
    name = value.lower().removesuffix(".")
    bare = name.removeprefix("*.")
    if name.startswith("*.") and "." not in bare:
        raise ValueError(f"{value!r} allows a whole top-level domain; allowed: *.<name>.<tld> or narrower")
    if len(name) > 253 or not re.fullmatch(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", bare):
        raise ValueError(f"{value!r} is not a DNS name; allowed: a name such as hooks.example.com, or *.example.com "
                         "for its subdomains")
    return name


def _viewer_cidrs(values: tuple[str, ...]) -> tuple[str, ...]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value))
        except ValueError as error:
            raise ValueError(f"{value!r} is not a CIDR such as 203.0.113.0/24 or 2001:db8::/48 ({error})") from None
    if any(n.prefixlen == 0 for n in networks):
        raise ValueError("an allow list for everyone is no allow list; allowed: specific ranges")
    return tuple(str(n) for n in networks)


PrivateCidr = Annotated[str, AfterValidator(_private_cidr)]
DomainName = Annotated[str, AfterValidator(_allowed_domain)]
ViewerCidrs = Annotated[tuple[str, ...], AfterValidator(_viewer_cidrs)]
StackName = Annotated[str, AfterValidator(_stack_name)]
RetentionDays = Annotated[int, AfterValidator(_log_retention)]
StackTags = Annotated[dict[str, str], AfterValidator(_tags)]
ModelNames = Annotated[tuple[str, ...], Field(min_length=1), AfterValidator(_known_models)]


class Section(BaseModel):
    """Immutable, camelCase in YAML, unknown keys rejected (a typo is an error, not a silent default)."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class NetworkSettings(Section):
    vpc_cidr: PrivateCidr = Field("10.10.0.0/16", description="VPC range; private, /16 to /24.")
    az_count: int = Field(2, ge=2, le=3, description="Availability zones with a public and a private subnet.")
    nat_instance_type: str = Field("t4g.nano", pattern=r"^[a-z][a-z0-9-]*g[a-z0-9-]*\.[a-z0-9]+$",
                                   description="Graviton instance type of the NAT instance.")
    nat_ami_id: str | None = Field(None, pattern=r"^ami-[0-9a-f]{8,17}$",
                                   description="fck-nat compatible AMI; default: newest fck-nat AL2023 arm64.")
    flow_log_traffic: Literal["ALL", "REJECT", "ACCEPT"] = "ALL"


class EgressSettings(Section):
    mode: Literal["allow-list", "open"] = Field(
        "allow-list", description="allow-list: the VPC's resolver answers only the names the gateway needs (Route 53 "
        "Resolver DNS Firewall; a connection to a literal address still leaves through the NAT); open: every name "
        "resolves and HTTPS may go anywhere through the NAT.")
    bedrock_endpoint: bool = Field(False, description="A Bedrock runtime interface endpoint in the private subnets: "
                                   "model calls stay off the NAT instance (priced per zone-hour and GB).")
    extra_domains: tuple[DomainName, ...] = Field((), description="More names the private subnets may resolve "
                                                  "in allow-list mode (`*.` in front also allows the subdomains).")


class ServiceSettings(Section):
    """One Fargate service: size, count and capacity."""

    cpu: int = Field(description="Fargate CPU units (256 = 0.25 vCPU).")
    memory: int = Field(description="Fargate memory in MiB; must be a size Fargate offers for the CPU.")
    desired_count: int = Field(1, ge=0, le=100)
    max_count: int = Field(1, ge=1, le=100)
    spot: bool = Field(False, description="Run on FARGATE_SPOT (cheaper, may be interrupted; X86_64 only).")
    architecture: Literal["ARM64", "X86_64"] | None = Field(None, description="Default: cpuArchitecture.")

    @model_validator(mode="after")
    def _fargate_offers_size(self) -> ServiceSettings:
        offered = FARGATE_MEMORY_BY_CPU.get(self.cpu)
        if offered is None:
            raise ValueError(f"cpu {self.cpu} is not a Fargate size; allowed: {sorted(FARGATE_MEMORY_BY_CPU)}")
        if self.memory not in offered:
            raise ValueError(f"memory {self.memory} is not offered with cpu {self.cpu}; allowed: {list(offered)}")
        if self.max_count < self.desired_count:
            raise ValueError(f"maxCount {self.max_count} is below desiredCount {self.desired_count}")
        return self


# Measured with `make bench` (docs/capacity.md; bench/results-2026-11-27.json): one LiteLLM 1.108.7 process on one
# core, its start-up heap frozen (images/litellm/custom_hooks.py), keeps 100 long Claude Code streams open (80 KB
# prompts, 420 tokens out at 60 tokens/s, three in a row each: about 11.9 turns a second) adding 34-65 ms at p95 to
# the first token; at 150 it adds 175-367 ms. Without the freeze it held 75. Rounded down.
TURNS_PER_VCPU_PER_SECOND = 11
# images/litellm/Dockerfile: `--num_workers 1`, one process and one event loop, so one core at most.
LITELLM_WORKERS = 1


class LiteLLMSettings(ServiceSettings):
    # Upstream's non-root image carried x86 Prisma engines in its arm64 variant until BerriAI/litellm#27170, and
    # whether the pinned tag's arm64 variant is sound cannot be checked from here (ghcr.io is out of reach).
    architecture: Literal["ARM64", "X86_64"] | None = Field(
        "X86_64", description="X86_64 until the pinned image's arm64 variant is verified (docs/limits.md).")
    cpu_target_percent: int = Field(60, ge=10, le=90, description="Autoscaling target for average CPU.")
    requests_per_target_per_minute: int | None = Field(
        None, ge=1, le=100_000, description="Autoscaling target for ALB requests per task; default: the measured "
        "capacity of the task's vCPUs at cpuTargetPercent.")

    @property
    def requests_target(self) -> int:
        """Requests a minute per task that autoscaling aims at: measured turns per vCPU, this task's vCPUs (at most
        one: the image runs one uvicorn worker, one event loop), and the same headroom as the CPU target."""
        vcpus = min(self.cpu / 1024, LITELLM_WORKERS)
        measured = TURNS_PER_VCPU_PER_SECOND * 60 * vcpus * self.cpu_target_percent / 100
        return self.requests_per_target_per_minute or round(measured)


class VictoriaMetricsSettings(ServiceSettings):
    retention_period: str = Field("90d", pattern=r"^\d+[hdwy]$", description="-retentionPeriod, e.g. 90d.")

    @model_validator(mode="after")
    def _single_writer(self) -> VictoriaMetricsSettings:
        if (self.desired_count, self.max_count) != (1, 1):
            raise ValueError("VictoriaMetrics is a single writer on one volume; allowed: desiredCount 1, maxCount 1")
        return self


def _rds_identifier(value: str) -> str:
    """RDS's rule for instance identifiers: 1-63 letters, digits or hyphens, a letter first, no "--", no hyphen last."""
    if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]{0,62}", value) or "--" in value or value.endswith("-"):
        raise ValueError(f"{value!r} is not an RDS instance identifier (1-63 letters, digits and single hyphens, "
                         "a letter first, no hyphen last)")
    return value


RESTORE_TIME = r"^(latest|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)$"


class DatabaseRestore(Section):
    """Make the stack's database a point-in-time copy of `source_identifier` (tools.restore writes this)."""

    source_identifier: Annotated[str, AfterValidator(_rds_identifier)] = Field(
        description="The instance to restore from (the stack output databaseIdentifier when the restore was made).")
    time: str = Field(pattern=RESTORE_TIME, description="UTC, e.g. 2026-11-27T09:30:00Z, or `latest`: within the "
                      "source's backup window (backupRetentionDays).")

    @model_validator(mode="after")
    def _in_the_past(self) -> DatabaseRestore:
        if self.time != "latest" and datetime.fromisoformat(self.time) > datetime.now(UTC):
            raise ValueError(f"time {self.time} is in the future; a restore goes back to a moment that has passed")
        return self


class DatabaseSettings(Section):
    instance_class: str = Field("db.t4g.micro", pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")
    engine_version: str = Field("16", pattern=r"^1[4-7](\.\d+)?$", description="PostgreSQL major (14-17).")
    allocated_storage_gb: int = Field(20, ge=20, le=65536)
    max_allocated_storage_gb: int = Field(100, ge=20, le=65536)
    backup_retention_days: int = Field(7, ge=1, le=35, description="Backups are always kept; 1 to 35 days.")
    multi_az: bool = False
    final_snapshot: bool = Field(True, description="Snapshot the database when it is deleted or replaced "
                                 "(independent of deletionProtection, so tearing a stack down keeps one).")
    restore: DatabaseRestore | None = Field(None, description="Set by tools.restore: the database is a new instance "
                                            "restored to a point in time; kept afterwards (where it came from).")

    @model_validator(mode="after")
    def _storage_can_grow(self) -> DatabaseSettings:
        if self.max_allocated_storage_gb < self.allocated_storage_gb:
            raise ValueError(f"maxAllocatedStorageGb {self.max_allocated_storage_gb} is below "
                             f"allocatedStorageGb {self.allocated_storage_gb}")
        return self


class BedrockSettings(Section):
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
                               description="Region LiteLLM calls Bedrock in; default: the stack region.")


# LiteLLM 1.108.7 resets a budget at standardized times (litellm_core_utils/duration_parser.py,
# get_next_standardized_reset_time): "1mo" and "30d" on the 1st of the next month at 00:00 UTC, "Nd" at midnight,
# "7d" on Monday; months other than 1 are refused.
BUDGET_PERIOD = r"^(1mo|[1-9]\d{0,2}[smhdw])$"


class BudgetTier(Section):
    """A LiteLLM budget a person can be given, as in the seed's budget model."""

    max_budget_usd: float | None = Field(None, ge=0, description="Spend limit; unset means unlimited.")
    period: str = Field("1mo", pattern=BUDGET_PERIOD, description="LiteLLM budget_duration: 1mo resets on the 1st "
                        "of each month (UTC); also Ns, Nm, Nh, Nd, Nw.")
    models: tuple[str, ...] = ()
    max_parallel_requests: int = Field(
        10, ge=1, le=1000, description="Requests one person may have in flight (Claude Code runs subagents in "
        "parallel); LiteLLM reserves each request's cost, so a budget is overshot by about one request whatever "
        "this is (docs/people.md, failure semantics).")


class DomainSettings(Section):
    """A custom hostname in a Route 53 zone: the gateway at `name`, its origin at `origin.<name>`."""

    name: str = Field(min_length=4, max_length=200, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
    hosted_zone_id: str = Field(pattern=r"^Z[A-Z0-9]{4,31}$")


# Anthropic's Claude Code docs ("Manage costs", rate limit recommendations) provision 5-7 requests per minute per
# user for small teams; one prompt can make several calls in a burst, so a person is allowed 60 per 5 minutes.
REQUESTS_PER_PERSON_PER_5_MINUTES = 60


class WafSettings(Section):
    enabled: bool = False
    people_per_address: int = Field(
        100, ge=1, le=100_000, description="People who may share one public address (an office NAT or VPN).")
    rate_limit_per_5_minutes: int | None = Field(
        None, ge=10, le=2_000_000_000, description="Requests per client IP per 5 minutes before blocking; "
        "default: peoplePerAddress x 60.")

    @property
    def rate_limit(self) -> int:
        return self.rate_limit_per_5_minutes or self.people_per_address * REQUESTS_PER_PERSON_PER_5_MINUTES


class EdgeSettings(Section):
    origin_mode: Literal["public-alb", "vpc-origin"] = Field(
        "vpc-origin", description="vpc-origin: internal ALB reached through a CloudFront VPC origin; "
                                  "public-alb: internet-facing ALB admitting only CloudFront.")
    alb_idle_timeout_seconds: int = Field(600, ge=300, le=4000, description="LLM responses stream for minutes.")
    origin_read_timeout_seconds: int = Field(
        60, ge=1, le=180, description="CloudFront's API takes 1 to 120 s; public-alb up to 180 with a quota "
                                      "increase for the account.")
    deregistration_delay_seconds: int = Field(300, ge=0, le=3600)
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    http_version: Literal["http1.1", "http2", "http3", "http2and3"] = "http2and3"
    domain: DomainSettings | None = None
    waf: WafSettings = WafSettings()
    origin_secret_version: int = Field(
        1, ge=1, description="Bump to rotate the header CloudFront sends the ALB; the previous value stays valid.")
    allow_plaintext_origin: bool = Field(
        False, description="Allow public-alb without a domain: CloudFront -> ALB in plain HTTP over the internet.")
    admin_cidrs: ViewerCidrs = Field((), description="Viewer ranges that reach the whole proxy (admin API, UI); "
                                     "empty: only the inference API is public.")
    grafana_cidrs: ViewerCidrs | None = Field(None, description="Viewer ranges that reach /grafana; default: "
                                              "adminCidrs.")

    @property
    def grafana_viewers(self) -> tuple[str, ...]:
        return self.admin_cidrs if self.grafana_cidrs is None else self.grafana_cidrs

    @model_validator(mode="after")
    def _no_plaintext_internet_leg(self) -> EdgeSettings:
        if self.origin_mode == "public-alb" and self.domain is None and not self.allow_plaintext_origin:
            raise ValueError("edge.originMode: public-alb without edge.domain sends keys and prompts from CloudFront "
                             "to the ALB in plain HTTP across the internet; allowed: vpc-origin, a domain, or "
                             "edge.allowPlaintextOrigin: true")
        return self


class CacheSettings(Section):
    """Valkey (ElastiCache, one shard) shared by the LiteLLM tasks: spend counters, rate limits, key revocations."""

    enabled: bool | None = Field(None, description="Default: on when litellm.maxCount > 1 (several tasks).")
    node_type: str = Field("cache.t4g.micro", pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
    engine_version: str = Field("8.0", pattern=r"^(7\.2|8\.\d)$", description="ElastiCache's Valkey: 7.2 or 8.x.")
    multi_az: bool = Field(False, description="A replica in a second zone with automatic failover (twice the cost).")


class AlertingSettings(Section):
    """Thresholds of Grafana's alert rules (components/grafana_alerts.py)."""

    bedrock_errors: int = Field(5, ge=0, description="Bedrock errors per model in 5 minutes.")
    proxy_errors: int = Field(10, ge=0, description="5xx answers in 5 minutes.")
    rejected_requests: int = Field(50, ge=0, description="401/403/429 answers in 5 minutes.")
    latency_p95_seconds: float = Field(90, gt=0, description="p95 of a whole request, per model.")
    ttft_p95_seconds: float = Field(10, gt=0, description="p95 time to first token of streams, per model.")
    monthly_spend_usd: float = Field(500, gt=0, description="Spend a month at the last hour's rate.")


class Settings(Section):
    project: str = PROJECT
    # Part of names AWS restricts (ECS families, RDS snapshot identifiers: letters, digits, single hyphens).
    stack: StackName
    region: str = Field("us-west-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    environment: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    tags: StackTags
    log_retention_days: RetentionDays = 30
    deletion_protection: bool = False
    network: NetworkSettings = NetworkSettings()
    egress: EgressSettings = EgressSettings()
    models: ModelNames = tuple(MODEL_CATALOG)
    bedrock: BedrockSettings = BedrockSettings()
    cpu_architecture: Literal["ARM64", "X86_64"] = "ARM64"
    litellm: LiteLLMSettings = LiteLLMSettings(cpu=512, memory=1024, desired_count=1, max_count=4)
    grafana: ServiceSettings = ServiceSettings(cpu=256, memory=512)
    victoriametrics: VictoriaMetricsSettings = VictoriaMetricsSettings(cpu=256, memory=512)
    database: DatabaseSettings = DatabaseSettings()
    alert_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$",
                                    description="Where alarms are e-mailed (the address must confirm).")
    exec_enabled: bool = Field(False, description="Allow `aws ecs execute-command` into tasks.")
    container_insights: Literal["disabled", "enabled", "enhanced"] = Field(
        "enabled", description="ECS Container Insights: enabled (standard: cluster and service metrics, ~$25 a month "
        "for this stack), enhanced (per task and container too, billed per metric), or disabled (the task alarms "
        "then read AWS/ECS's and the ALB's free metrics: is a task running, is one healthy).")
    build_images_on_preview: bool = Field(False, description="Build container images during `pulumi preview`.")
    edge: EdgeSettings = EdgeSettings()
    alerting: AlertingSettings = AlertingSettings()
    cache: CacheSettings = CacheSettings()
    budgets: dict[str, BudgetTier] = {
        "admin": BudgetTier(),
        "developer": BudgetTier(max_budget_usd=10, models=("claude-haiku-4-5", "claude-sonnet-4-5")),
        "test": BudgetTier(max_budget_usd=1, models=("claude-haiku-4-5",)),
    }

    @model_validator(mode="after")
    def _spot_runs_x86_only(self) -> Settings:
        for key in SERVICES:
            if getattr(self, key).spot and self.architecture_of(key) != "X86_64":
                raise ValueError(f"{key}.spot: Fargate Spot runs only X86_64 tasks; "
                                 f"allowed: set {key}.architecture: X86_64 or spot: false")
        return self

    @model_validator(mode="after")
    def _protected_stacks_page_someone(self) -> Settings:
        if self.deletion_protection and not self.alert_email:
            raise ValueError("alertEmail: a stack with deletionProtection must send its alarms to someone; "
                             "allowed: an e-mail address that confirms the SNS subscription")
        return self

    @model_validator(mode="after")
    def _vpc_origin_is_offered(self) -> Settings:
        edge = self.edge
        if edge.origin_mode != "vpc-origin":
            return self
        if self.region not in VPC_ORIGIN_REGIONS:
            raise ValueError(f"edge.originMode: CloudFront VPC origins are not offered in {self.region}; "
                             f"allowed: public-alb, or a region among {', '.join(VPC_ORIGIN_REGIONS)}")
        if edge.origin_read_timeout_seconds > VPC_ORIGIN_MAX_READ_TIMEOUT_SECONDS:
            raise ValueError(f"edge.originReadTimeoutSeconds: {edge.origin_read_timeout_seconds} is over a VPC "
                             f"origin's maximum; allowed: 1 to {VPC_ORIGIN_MAX_READ_TIMEOUT_SECONDS}")
        return self

    def architecture_of(self, service: str) -> str:
        return getattr(self, service).architecture or self.cpu_architecture

    @model_validator(mode="after")
    def _budget_models_are_served(self) -> Settings:
        for tier, budget in self.budgets.items():
            extra = sorted(set(budget.models) - set(self.models))
            if extra:
                raise ValueError(f"budgets.{tier}.models: {extra} are not served; allowed: {list(self.models)}")
        return self

    @property
    def shared_cache(self) -> bool:
        """Whether LiteLLM's tasks share a cache: with more than one task, per-process counters would diverge."""
        return self.cache.enabled if self.cache.enabled is not None else self.litellm.max_count > 1

    @model_validator(mode="after")
    def _bedrock_endpoint_in_the_stack_region(self) -> Settings:
        if self.egress.bedrock_endpoint and self.bedrock_region != self.region:
            raise ValueError(f"egress.bedrockEndpoint: an interface endpoint serves its own region's Bedrock, and "
                             f"bedrock.region is {self.bedrock_region} in a {self.region} stack; allowed: false, or "
                             "bedrock.region unset")
        return self

    @property
    def bedrock_region(self) -> str:
        return self.bedrock.region or self.region

    @model_validator(mode="after")
    def _profiles_are_callable_from_the_bedrock_region(self) -> Settings:
        """`us.` inference profiles are called from, and route within, US regions (Bedrock User Guide, "Supported
        Regions and models for inference profiles"); from elsewhere the plan would grant and configure profiles
        that do not exist there."""
        scopes = {MODEL_CATALOG[name].profile_scope for name in self.models}
        if "us" in scopes and self.bedrock_region not in US_PROFILE_REGIONS:
            setting = "bedrock.region" if self.bedrock.region else "aws:region (Bedrock is called in the stack's)"
            raise ValueError(f"{setting}: {self.bedrock_region} cannot call the models' `us.` inference profiles; "
                             f"allowed: {', '.join(US_PROFILE_REGIONS)} (set bedrock.region to one of them to run "
                             "the stack elsewhere; other geographies' profiles are not catalogued yet)")
        return self


def default_tags(project: str, stack: str) -> dict[str, str]:
    return {"Project": project, "Environment": stack, "Owner": "platform-team",
            "CostCenter": "unassigned", "ManagedBy": "pulumi"}


def _parse(value: Any) -> Any:
    """Pulumi hands structured config over as JSON text; scalars stay text for pydantic to coerce."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


# What pydantic's type errors mean for someone writing YAML.
PLAIN_TYPE_ERRORS = {"tuple_type": "a list is expected", "list_type": "a list is expected",
                     "set_type": "a list is expected", "dict_type": "a mapping (key: value lines) is expected",
                     "model_type": "a mapping (key: value lines) is expected",
                     "int_parsing": "a whole number is expected", "int_type": "a whole number is expected",
                     "float_parsing": "a number is expected", "bool_parsing": "true or false is expected",
                     "bool_type": "true or false is expected", "string_type": "text is expected"}


def describe_problem(error: Mapping[str, Any], prefix: str = "") -> str:
    """One line for one validation error of a stack or people file: the exact key (a section's rule names its
    field first, so the field is named, not the section), the value written, and what is wrong in plain words."""
    # Field names are snake_case in Python and camelCase in YAML; keys people chose (an e-mail) stay as written.
    parts = [to_camel(part) if isinstance(part, str) and re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", part) else str(part)
             for part in error["loc"]]
    message, value = error["msg"].removeprefix("Value error, "), error.get("input")
    field = message.split(" ", 1)[0]
    if isinstance(value, Mapping) and field in value:  # "cpu 300 is not a Fargate size" about litellm
        parts, value = [*parts, field], value[field]
    if plain := PLAIN_TYPE_ERRORS.get(error["type"]):
        message = f"{plain}, not {type(value).__name__} {value!r}" + (
            f" (write it as [{value}])" if plain.startswith("a list") and isinstance(value, str) else "")
    if error["type"] == "extra_forbidden":
        message = "unknown setting: check its spelling (docs/settings.md, docs/people.md)"
    shown = "" if error["type"] in ("missing", "extra_forbidden") or isinstance(value, Mapping) else f" = {value!r}"
    return f"{prefix}{'.'.join(parts)}{shown}: {message}"


def _describe(error: dict[str, Any], project: str) -> str:
    if not error["loc"]:  # a rule across settings names its key first: "<key>: <why>"
        location, _, message = error["msg"].removeprefix("Value error, ").partition(": ")
        return f"{project}:{location}: {message}"
    if error["loc"] == ("region",):
        return describe_problem(error).replace("region", "aws:region", 1)
    return describe_problem(error, f"{project}:")


def load_settings(project: str, stack: str, config: Mapping[str, Any]) -> Settings:
    """Build the settings from raw stack config ({"<namespace>:<key>": value}); raise on any bad key."""
    raw: dict[str, Any] = {"project": project, "stack": stack, "environment": stack}
    unknown = []
    for full_key, value in config.items():
        namespace, _, key = full_key.partition(":")
        if full_key == "aws:region":
            raw["region"] = value
        elif namespace == project:
            if key in ("project", "stack"):
                unknown.append(f"{full_key}: reserved; it comes from Pulumi.yaml and the stack name")
            raw[key] = _parse(value)
    overrides = raw.get("tags") or {}
    if isinstance(overrides, dict):
        raw["tags"] = {**default_tags(project, str(raw["environment"])), **overrides}
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as error:
        problems = unknown + [_describe(e, project) for e in error.errors()]
        raise SettingsError("invalid stack settings:\n  " + "\n  ".join(problems)) from None
    if unknown:
        raise SettingsError("invalid stack settings:\n  " + "\n  ".join(unknown))
    return settings


def pulumi_stack_config() -> dict[str, Any]:
    """Every config value of the running stack, as Pulumi hands them to the program."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
