"""Run the real Pulumi program under Pulumi's mock engine and record the resource graph it plans.

No Pulumi CLI, provider plugin, cloud credential or network is used: resources are registered with an
in-process monitor that records them (type, name, inputs, parent, provider, options) and answers with
plausible outputs; invokes (data-source lookups) are answered the way the AWS provider would, with
camelCase keys. Runs with preview=False so every `.apply` runs and assertions cannot pass vacuously.
"""

from __future__ import annotations

import gc
import hashlib
import json
import runpy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks, rpc
from pulumi.runtime.settings import ROOT
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from settings import Settings, load_settings

ROOT_DIR = Path(__file__).resolve().parent.parent
PROGRAM = ROOT_DIR / "__main__.py"
ACCOUNT_ID = "123456789012"
STACK_TYPE = "pulumi:pulumi:Stack"

# pulumi_aws builds tens of thousands of typed classes when its modules load, and the SDK makes an Output and tasks
# per property of every resource: CPython's collector, run every 700 new objects by default, spent about 40 % of a
# plan traversing them (measured: a warm plan of dev 0.61 s -> 0.35 s).
PLAN_GC_THRESHOLDS = (100_000, 50, 100)
# AWS-managed prefix lists the program looks up by name, with the ids the mock answers.
MANAGED_PREFIX_LISTS = {"com.amazonaws.global.cloudfront.origin-facing": "pl-82a045da"}


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect far less often while a plan runs; afterwards the defaults come back and the plan's garbage is
    collected, so many plans in one process (a test worker) stay flat. Inside another (the plan command around the
    program's run) it does nothing: the outer one restores and collects once."""
    defaults = gc.get_threshold()
    if defaults == PLAN_GC_THRESHOLDS:
        yield
        return
    gc.set_threshold(*PLAN_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*defaults)
        gc.collect(1)


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str
    provider: str
    custom: bool
    protect: bool
    dependencies: list[str] = field(default_factory=list)
    secret_inputs: set[str] = field(default_factory=set)
    # Input key -> URNs of the resources whose outputs feed it (what policies follow across the graph).
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    # Resource options the engine acts on: ignoreChanges, replaceOnChanges, customTimeouts, deleteBeforeReplace.
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")


@dataclass
class Graph:
    """What one run of the program planned."""

    stack: str
    resources: list[Resource]
    invokes: list[tuple[str, dict[str, Any]]]
    outputs: dict[str, Any]

    def by_urn(self, urn: str) -> Resource | None:
        return next((r for r in self.resources if r.urn == urn), None)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name_suffix: str = "") -> Resource:
        found = [r for r in self.of_type(type_) if r.name.endswith(name_suffix)]
        if len(found) != 1:
            raise AssertionError(f"expected one {type_} named *{name_suffix}, found {[r.name for r in found]}")
        return found[0]

    def children(self, parent: Resource) -> list[Resource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def component_of(self, resource: Resource) -> Resource | None:
        parent = self.by_urn(resource.parent)
        while parent is not None and parent.custom:
            parent = self.by_urn(parent.parent)
        return parent

    def provider_of(self, resource: Resource) -> Resource | None:
        """The provider a resource uses; its reference is "<provider urn>::<provider id>"."""
        return self.by_urn(resource.provider.rsplit("::", 1)[0]) if resource.provider else None

    def id_of(self, resource: Resource) -> str:
        return resource.outputs.get("id", "")

    def waits_for(self, resource: Resource, other: Resource) -> bool:
        """Whether `resource` is created only after `other` exists (directly or through the resources between)."""
        by_urn = {r.urn: r for r in self.resources}

        @cache
        def reaches(urn: str) -> bool:
            current = by_urn.get(urn)
            deps = set(current.dependencies) | {u for us in current.property_dependencies.values() for u in us} \
                if current else set()
            return other.urn in deps or any(reaches(d) for d in deps if d in by_urn)

        return reaches(resource.urn)


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def _holds_secret(value: Any) -> bool:
    if _is_secret(value):
        return True
    if isinstance(value, dict):
        return any(_holds_secret(v) for v in value.values())
    return isinstance(value, list) and any(_holds_secret(v) for v in value)


def plain(value: Any) -> Any:
    """Values as AWS gets them: secrets unwrapped, whole numbers as ints (protobuf sends 443.0)."""
    if _is_secret(value):
        return plain(value["value"])
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _arn(service: str, region: str, path: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{path}"


# ARN shapes of the types whose ARNs the program puts into IAM policies or rules, as AWS forms them.
ARN_PATHS: dict[str, str] = {
    "aws:cloudwatch/logGroup:LogGroup": "logs:{region}:{account}:log-group:{name}",
    "aws:secretsmanager/secret:Secret": "secretsmanager:{region}:{account}:secret:{name}-AbC123",
    "aws:efs/fileSystem:FileSystem": "elasticfilesystem:{region}:{account}:file-system/fs-{id}",
    "aws:efs/accessPoint:AccessPoint": "elasticfilesystem:{region}:{account}:access-point/fsap-{id}",
    "aws:ecr/repository:Repository": "ecr:{region}:{account}:repository/{name}",
    "aws:iam/role:Role": "iam::{account}:role/{name}",
    "aws:iam/instanceProfile:InstanceProfile": "iam::{account}:instance-profile/{name}",
    "aws:lb/loadBalancer:LoadBalancer": "elasticloadbalancing:{region}:{account}:loadbalancer/app/{name}/0a1b2c3d",
    "aws:lb/targetGroup:TargetGroup": "elasticloadbalancing:{region}:{account}:targetgroup/{name}/0a1b2c3d",
    "aws:wafv2/webAcl:WebAcl": "wafv2:us-east-1:{account}:global/webacl/{name}/0a1b2c3d",
}


def _mock_password(name: str, inputs: dict[str, Any]) -> str:
    """Distinct per resource and keepers (as a real one would be), of the requested length, alphanumeric."""
    seed = hashlib.sha256(f"{name} {json.dumps(inputs.get('keepers'), sort_keys=True)}".encode()).hexdigest()
    return ("mock" + seed * 4)[: int(inputs.get("length", 32))]


def _mock_outputs(type_: str, name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """Outputs a real provider would return that the program reads (ids, ARNs, DNS names)."""
    service = type_.split(":")[1].split("/", maxsplit=1)[0] if ":" in type_ else "mock"
    physical = inputs.get("name") or f"{name}-1a2b3c4"
    path = ARN_PATHS.get(type_, f"{service}:{region}:{{account}}:{type_.rsplit(':', 1)[-1].lower()}/{{name}}")
    outputs: dict[str, Any] = {
        "arn": "arn:aws:" + path.format(region=region, account=ACCOUNT_ID, name=physical, id=name),
        "name": physical,
    }
    specific: dict[str, dict[str, Any]] = {
        "aws:ec2/eip:Eip": {"publicIp": "198.51.100.10", "allocationId": f"eipalloc-{name}"},
        "aws:lb/loadBalancer:LoadBalancer": {"dnsName": f"{physical}.{region}.elb.amazonaws.com",
                                             "arnSuffix": f"app/{physical}/0123456789abcdef",
                                             "zoneId": "Z368ELLRRE2KJ0"},
        "aws:lb/targetGroup:TargetGroup": {"arnSuffix": f"targetgroup/{physical}/0123456789abcdef"},
        "aws:cloudfront/distribution:Distribution": {"domainName": "d111111abcdef8.cloudfront.net",
                                                     "hostedZoneId": "Z2FDTNDATAQYW2"},
        "aws:rds/instance:Instance": {"address": f"{physical}.abc.{region}.rds.amazonaws.com",
                                      "identifier": f"{name}-db-0a1b2c",
                                      "endpoint": f"{physical}.abc.{region}.rds.amazonaws.com:5432",
                                      "masterUserSecrets": [{"secretArn": _arn("secretsmanager", region,
                                                                               f"secret:rds!{name}")}]},
        # ElastiCache names a group's primary endpoint master.<id>.<hash>.<region short>.cache.amazonaws.com.
        "aws:elasticache/replicationGroup:ReplicationGroup": {
            "primaryEndpointAddress": f"master.{physical}.abc123.usw1.cache.amazonaws.com"},
        "aws:efs/fileSystem:FileSystem": {"dnsName": f"fs-{name}.efs.{region}.amazonaws.com"},
        "random:index/randomPassword:RandomPassword": {"result": _mock_password(name, inputs)},
        "aws:acm/certificate:Certificate": {"domainValidationOptions": [{
            "domainName": inputs.get("domainName"), "resourceRecordName": f"_x1.{inputs.get('domainName')}.",
            "resourceRecordType": "CNAME", "resourceRecordValue": "_x2.acm-validations.aws."}]},
        "aws:route53/record:Record": {"fqdn": inputs.get("name")},
        "docker:index/image:Image": {"repoDigest": str(inputs.get("imageName", "")).rsplit(":", 1)[0]
                                     + "@sha256:" + "0" * 64},
        "aws:ecr/repository:Repository": {
            "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{physical}", "registryId": ACCOUNT_ID},
    }
    return {**inputs, **outputs, **specific.get(type_, {})}


class RecordingEngine(mocks.Mocks):
    """Pulumi mocks that remember every registration and answer the invokes the program makes."""

    def __init__(self, region: str, availability_zones: int = 3) -> None:
        self.region = region
        self.availability_zones = availability_zones
        self.invokes: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", _mock_outputs(args.typ, args.name, plain(args.inputs), self.region)

    def call(self, args: mocks.MockCallArgs) -> dict[str, Any]:
        self.invokes.append((args.token, dict(args.args)))
        answers = {
            "aws:index/getAvailabilityZones:getAvailabilityZones": lambda: {
                "names": [f"{self.region}{z}" for z in "abc"[: self.availability_zones]],
                "zoneIds": [f"usw1-az{i}" for i in range(1, self.availability_zones + 1)]},
            # Interface endpoint services answer with the zones they are offered in: here, every zone.
            "aws:ec2/getVpcEndpointService:getVpcEndpointService": lambda: {
                "serviceName": args.args["serviceName"], "serviceType": "Interface",
                "availabilityZones": [f"{self.region}{z}" for z in "abc"[: self.availability_zones]]},
            "aws:ec2/getAmi:getAmi": lambda: {"id": "ami-0fcknat0000arm64", "architecture": "arm64"},
            "aws:index/getCallerIdentity:getCallerIdentity": lambda: {
                "accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci", "userId": "AIDAMOCK"},
            "aws:index/getPartition:getPartition": lambda: {"partition": "aws", "dnsSuffix": "amazonaws.com"},
            "aws:ec2/getManagedPrefixList:getManagedPrefixList": lambda: {
                "id": MANAGED_PREFIX_LISTS[args.args["name"]], "name": args.args["name"]},
            "aws:ecr/getAuthorizationToken:getAuthorizationToken": lambda: {
                "userName": "AWS", "password": "mock-ecr-token", "authorizationToken": "bW9jaw==",
                "proxyEndpoint": f"https://{ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com"},
            "aws:cloudfront/getCachePolicy:getCachePolicy": lambda: {"id": f"cache-{args.args.get('name')}"},
            "aws:cloudfront/getOriginRequestPolicy:getOriginRequestPolicy": lambda: {
                "id": f"origin-{args.args.get('name')}"},
        }
        if args.token not in answers:
            raise KeyError(f"the offline engine has no answer for invoke {args.token}; add one in {__file__}")
        return answers[args.token]()


def _options(request: Any) -> dict[str, Any]:
    timeouts = request.customTimeouts
    return {"ignoreChanges": list(request.ignoreChanges), "replaceOnChanges": list(request.replaceOnChanges),
            "deleteBeforeReplace": request.deleteBeforeReplace, "retainOnDelete": request.retainOnDelete,
            "replaceWith": list(request.replace_with),
            "customTimeouts": {k: v for k, v in (("create", timeouts.create), ("update", timeouts.update),
                                                 ("delete", timeouts.delete)) if v}}


class RecordingMonitor(mocks.MockMonitor):
    """The mock monitor, also keeping parent, provider, options and the stack's exported outputs."""

    def __init__(self, engine: RecordingEngine, graph: Graph) -> None:
        super().__init__(engine)
        self.engine = engine
        self.graph = graph

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != STACK_TYPE:
            urn = self.make_urn(request.parent, request.type, request.name)
            # Registrations run on several threads at once: read this request's own inputs.
            raw = rpc.deserialize_properties(request.object)
            inputs = plain(raw)
            self.graph.resources.append(Resource(
                urn=urn, type=request.type, name=request.name, inputs=inputs,
                outputs=dict(self.resources[urn].state, id=self.resources[urn].id), parent=request.parent,
                provider=request.provider, custom=request.custom, protect=request.protect,
                dependencies=list(request.dependencies),
                secret_inputs={key for key, value in raw.items() if _holds_secret(value)},
                property_dependencies={key: list(deps.urns) for key, deps in request.propertyDependencies.items()},
                options=_options(request)))
        return response

    def RegisterResourceOutputs(self, request):  # noqa: N802 - gRPC method name
        if request.urn.split("::")[2] == STACK_TYPE:
            self.graph.outputs.update(plain(rpc.deserialize_properties(request.outputs)))
        return super().RegisterResourceOutputs(request)


def stack_config(stack: str) -> dict[str, str]:
    """A stack file's config as Pulumi hands it to the program: namespaced keys, objects as JSON text."""
    path = ROOT_DIR / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name}; stacks here: "
                                f"{sorted(p.name for p in ROOT_DIR.glob('Pulumi.*.yaml'))}")
    return as_pulumi_config((yaml.safe_load(path.read_text()) or {}).get("config") or {})


def stack_settings(stack: str, config: dict[str, str] | None = None) -> Settings:
    """The validated settings of `stack`: from its stack file, or from `config` (as `stack_config` gives it)."""
    return load_settings(project_name(), stack, stack_config(stack) if config is None else config)


def _as_pulumi_reads_it(value: Any) -> str:
    """Pulumi's YAML reader keeps an unquoted timestamp (database.restore.time) as the text written; PyYAML makes it
    a datetime."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"{type(value).__name__} in a stack file")


def as_pulumi_config(config: dict[str, Any]) -> dict[str, str]:
    """A stack file's `config:` section as Pulumi hands it to the program: objects as JSON text."""
    return {key: value if isinstance(value, str) else json.dumps(value, default=_as_pulumi_reads_it)
            for key, value in config.items()}


def project_name() -> str:
    return yaml.safe_load((ROOT_DIR / "Pulumi.yaml").read_text())["name"]


def run(stack: str, config: dict[str, str] | None = None, availability_zones: int = 3) -> Graph:
    """Run __main__.py for `stack` (config from Pulumi.<stack>.yaml unless given) and return its graph."""
    graph = Graph(stack=stack, resources=[], invokes=[], outputs={})
    run_into(graph, stack_config(stack) if config is None else config, availability_zones)
    return graph


def run_into(graph: Graph, config: dict[str, str], availability_zones: int = 3) -> None:
    """Like `run`, filling `graph` as resources register, so a failed run still shows what it registered."""
    engine = RecordingEngine(region=config.get("aws:region", "us-west-1"), availability_zones=availability_zones)
    engine.invokes = graph.invokes
    monitor = RecordingMonitor(engine, graph)
    pulumi.runtime.set_all_config(config)
    mocks.set_mocks(engine, project=project_name(), stack=graph.stack, preview=False, monitor=monitor)
    ROOT.set(None)
    with fewer_collections():
        _sync_await(run_in_stack(lambda: runpy.run_path(str(PROGRAM), run_name="__main__")))
