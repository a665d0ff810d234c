"""The planned network, run for real: each stack's VPC built in network namespaces from its plan (tests/twin), the NAT
instance booted as fck-nat boots it against EC2 and IMDS stand-ins, real TCP/TLS connections both ways, and fault
drills on the NAT instance (dev's twin, after the flows).

Security groups are applied per interface, statefully, as AWS applies them; a flow passes only if every interface on
its way, the routes and the NAT instance's own configuration let it. Needs root (namespaces, nftables): elsewhere
this module skips, and in CI it fails instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.flows import FLOWS
from tests.stacks import planned, settings_of
from tests.twin.endpoints import CALLS, ECR_LAYERS, OUTSIDE, calls_of
from tests.twin.session import bedrock_name, in_parallel, needs_namespaces, running_twins
from tests.twin.stand_ins import BannerListener
from tests.twin.vpc import STRANGER, Boot, VpcTwin

pytestmark = needs_namespaces()


@pytest.fixture(scope="module")
def stacks() -> Iterator[dict[str, tuple[VpcTwin, Boot]]]:
    yield from running_twins([planned("dev"), planned("prod")])


@pytest.fixture(scope="module", params=["dev", "prod"])
def booted(request: pytest.FixtureRequest, stacks: dict[str, tuple[VpcTwin, Boot]]) -> tuple[VpcTwin, Boot]:
    return stacks[request.param]


@pytest.fixture
def twin(booted: tuple[VpcTwin, Boot]) -> VpcTwin:
    return booted[0]


# Ports something listens on in the NAT instance while the must-not flows are tried (SSH as an operator would
# expect it, HTTPS as the NAT's own port).
NAT_LISTENS = (22, 443)


def elastic_ip(twin: VpcTwin) -> str:
    return twin.model.nat.elastic_ip


# --- the NAT instance boots as fck-nat boots it ----------------------------------------------------------------------

def test_the_nat_boot_makes_only_allowed_calls_and_forwards(booted: tuple[VpcTwin, Boot]) -> None:
    twin, boot = booted
    assert twin.skipped == [], "every planned route and rule is carried by the twin"
    assert boot.returncode == 0, boot.output
    assert "fck-nat: forwarding from eth1 out of eth0" in boot.output, boot.output
    assert [c.outcome for c in boot.calls] == ["ok"] * len(boot.calls), boot.calls
    assert {c.action for c in boot.calls} == {
        "ModifyNetworkInterfaceAttribute", "AssociateAddress", "AttachNetworkInterface"}


# --- what must connect does ---------------------------------------------------------------------------------------

def test_every_task_reaches_its_aws_endpoints_through_the_nat_from_the_elastic_ip(twin: VpcTwin) -> None:
    settings = settings_of(planned(twin.model.stack))
    attempts = {f"{link.interface.key} -> {name}": (lambda k=link.interface.key, n=name: twin.connect_aws(k, n))
                for unit in CALLS for link in twin.interfaces(unit)
                for name in calls_of(unit, settings.region, settings.bedrock_region, twin.model.account_id)}
    assert len(attempts) >= 20
    answers = in_parallel(attempts)
    wrong = {label: answer for label, answer in answers.items() if label.split(" -> ")[1] not in twin.model.private_dns
             and (not answer or answer.get("peer") != elastic_ip(twin) or answer["host"] != label.split(" -> ")[1])}
    assert not wrong, f"expected an answer from each endpoint, seen from {elastic_ip(twin)}: {wrong}"


def test_names_an_interface_endpoint_serves_are_answered_inside_the_vpc(twin: VpcTwin) -> None:
    """Prod's Bedrock runtime endpoint: LiteLLM's model calls resolve to the endpoint's interfaces and reach them
    from the task's own address, not through the NAT; dev plans no endpoint, so its model calls take the NAT."""
    endpoint_served = set(twin.model.private_dns)
    assert endpoint_served == ({bedrock_name(twin)} if twin.model.stack == "prod" else set())
    for name in endpoint_served:
        for link in twin.interfaces("litellm"):
            answer = twin.connect_aws(link.interface.key, name)
            assert answer and answer["peer"] == link.interface.address, answer
            assert answer["host"].startswith("vpce-bedrock-runtime-"), answer


def test_the_resolver_answers_the_allow_list_and_refuses_other_names(twin: VpcTwin) -> None:
    """The planned DNS Firewall, applied by the stand-in resolver: every name a unit calls resolves, names nothing
    needs do not; an address written out still connects through the NAT (the residual risk of DNS filtering)."""
    settings = settings_of(planned(twin.model.stack))
    needed = {n for unit in CALLS for n in calls_of(unit, settings.region, settings.bedrock_region,
                                                     twin.model.account_id)}
    assert [name for name in sorted(needed) if not twin.resolve(name)] == []
    assert [name for name in OUTSIDE if twin.resolve(name)] == []
    litellm = next(twin.interfaces("litellm")).interface.key
    assert twin.connect_aws(litellm, "example.com") is None
    literal = twin.connect_aws(litellm, "example.com", literal=twin.aws_names["example.com"])
    assert literal and literal["peer"] == elastic_ip(twin), literal
    print(f"\n[{twin.model.stack}] example.com: NXDOMAIN by name; by its address: answered through the NAT from "
          f"{literal['peer']}")


def test_image_layers_come_from_s3_by_the_gateway_endpoint_not_the_nat(twin: VpcTwin) -> None:
    name = ECR_LAYERS.format(region=twin.model.region)
    for link in twin.interfaces("litellm"):
        answer = twin.connect_aws(link.interface.key, name)
        assert answer and answer["peer"] == link.interface.address, answer


@dataclass(frozen=True)
class Attempt:
    source: str
    address: str
    port: int
    why: str


def _flow_attempts(twin: VpcTwin) -> list[Attempt]:
    graph = planned(twin.model.stack)
    attempts = []
    for flow in FLOWS:
        callers = [twin.nat.primary] if flow.caller == "nat" else list(twin.interfaces(flow.caller))
        attempts += [Attempt(caller.interface.key, target.interface.address, flow.port(graph), flow.why)
                     for caller in callers for target in twin.interfaces(flow.target)]
    return attempts


def test_each_runtime_flow_connects_from_every_subnet_to_every_subnet(twin: VpcTwin) -> None:
    attempts = _flow_attempts(twin)
    answers = in_parallel({f"{a.source} -> {a.address}:{a.port} ({a.why})":
                           (lambda a=a: twin.connect(a.source, a.address, a.port)) for a in attempts})
    refused = [label for label, answer in answers.items() if not answer or "foreign" in answer]
    assert not refused


def test_cloudfront_reaches_the_alb(twin: VpcTwin) -> None:
    """vpc-origin: CloudFront's interfaces in the ALB's subnets; public-alb: CloudFront's fleet from the internet."""
    listener = twin.links[next(twin.interfaces("alb")).interface.key].interface.listens[0]
    origins = list(twin.interfaces("vpc-origin"))
    for alb in twin.interfaces("alb"):
        for origin in origins:
            assert twin.connect(origin.interface.key, alb.interface.address, listener), origin.interface.key
    assert origins, "both stacks use a CloudFront VPC origin"


# --- what must not connect does not -------------------------------------------------------------------------------

def _must_not(twin: VpcTwin) -> list[Attempt]:
    addresses = {unit: [link.interface.address for link in twin.interfaces(unit)]
                 for unit in ("litellm", "grafana", "victoriametrics", "postgres", "cache", "efs", "alb")}
    static = twin.links["nat-eni"].interface.address
    bedrock = twin.aws_names[bedrock_name(twin)]
    attempts = [Attempt(STRANGER, address, port, "the internet reaches no private interface")
                for unit, found in addresses.items() for address in found
                for port in twin.links[next(twin.interfaces(unit)).interface.key].interface.listens]
    attempts += [Attempt(STRANGER, public, port, "the internet reaches nothing on the NAT instance")
                 for public in {elastic_ip(twin), *twin.public_of.values()} for port in NAT_LISTENS]
    attempts += [Attempt(link.interface.key, bedrock, 80, "tasks leave only as HTTPS")
                 for unit in ("litellm", "grafana", "victoriametrics", "migration") for link in twin.interfaces(unit)]
    attempts += [Attempt(link.interface.key, address, 8428, "LiteLLM never calls VictoriaMetrics")
                 for link in twin.interfaces("litellm") for address in addresses["victoriametrics"]]
    attempts += [Attempt(link.interface.key, address, 5432, "only LiteLLM reaches the database")
                 for unit in ("grafana", "victoriametrics", "alb") for link in twin.interfaces(unit)
                 for address in addresses["postgres"]]
    attempts += [Attempt(twin.nat.primary.interface.key, address, 5432, "the public subnet never reaches the database")
                 for address in addresses["postgres"]]
    attempts += [Attempt(link.interface.key, static, 22, "the NAT admits only HTTPS from the private subnets")
                 for link in twin.interfaces("litellm")]
    return attempts


def test_only_the_nat_instance_has_a_public_address(twin: VpcTwin) -> None:
    """The internet reaches a private address only through the gateway's translation: nothing else has one."""
    assert set(twin.public_of) == {twin.nat.primary.interface.address}
    assert twin.public_of[twin.nat.primary.interface.address] == elastic_ip(twin)


def test_nothing_else_connects(twin: VpcTwin) -> None:
    # Something listens on every port tried, and the same listeners answer where a flow is allowed (the controls
    # below): a refusal comes from the network, not from an empty port.
    nat_host = twin.nat.primary.host
    extra = [*(BannerListener(nat_host, "0.0.0.0", port, "nat") for port in NAT_LISTENS),
             BannerListener(twin.internet, twin.aws_names[bedrock_name(twin)], 80, "plain-http")]
    try:
        static = twin.links["nat-eni"].interface.address
        litellm = next(twin.interfaces("litellm")).interface.key
        assert twin.connect(litellm, static, 443), "control: the private subnets reach the NAT on 443"
        assert twin.connect(STRANGER, twin.aws_names[bedrock_name(twin)], 80), "control: port 80 answers"
        attempts = _must_not(twin)
        answers = in_parallel({f"{a.source} -> {a.address}:{a.port} ({a.why})":
                               (lambda a=a: twin.connect(a.source, a.address, a.port, timeout=1.0)) for a in attempts})
        assert len(answers) >= 30
        connected = [label for label, answer in answers.items() if answer]
        assert not connected
    finally:
        for listener in extra:
            listener.close()


# --- fault drills ---------------------------------------------------------------------------------------------------

# The deadline for egress to come back after a launch: the user data's EC2 calls and fck-nat's boot, with room for
# a busy machine. The drills print what it took.
EGRESS_DEADLINE_SECONDS = 90.0


def egress_back_after(twin: VpcTwin, started: float) -> float:
    """Seconds from `started` until LiteLLM reaches Bedrock again from the Elastic IP."""
    source = next(twin.interfaces("litellm")).interface.key
    while time.monotonic() - started < EGRESS_DEADLINE_SECONDS:
        answer = twin.connect_aws(source, bedrock_name(twin), timeout=1.0)
        if answer and answer["peer"] == twin.model.nat.elastic_ip:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"no egress from the Elastic IP within {EGRESS_DEADLINE_SECONDS} s")


# The drills take dev's twin (the module's, after its flow tests: they change it, and leave a NAT instance running).
@pytest.mark.parametrize("booted", ["dev"], indirect=True)
def test_drill_the_nat_instance_is_replaced_and_egress_comes_back(twin: VpcTwin) -> None:
    source = next(twin.interfaces("litellm")).interface.key
    assert twin.connect_aws(source, bedrock_name(twin), timeout=1.0), "egress before the drill"
    twin.terminate_nat()
    assert twin.connect_aws(source, bedrock_name(twin), timeout=1.0) is None, "no NAT instance, no egress"
    started = time.monotonic()
    boot = twin.launch_nat()
    assert boot.returncode == 0, boot.output
    seconds = egress_back_after(twin, started)
    print(f"\n[dev] replacement NAT instance: user data ran {boot.seconds:.1f} s, egress back after {seconds:.1f} s"
          " (the twin's time; EC2 adds the instance's launch and OS boot)")


@pytest.mark.parametrize("booted", ["dev"], indirect=True)
def test_drill_the_nat_forwards_although_its_first_calls_are_refused(twin: VpcTwin) -> None:
    """IAM propagation: a new role's first calls can be refused. fck-nat.sh makes AssociateAddress once and
    ModifyNetworkInterfaceAttribute once and carries on without them; refused twice (the user data's first try and
    fck-nat's own), the check stays on and the Elastic IP elsewhere unless the user data retries."""
    twin.terminate_nat()
    refusals = {"ModifyNetworkInterfaceAttribute": 2, "AssociateAddress": 1}
    boot = twin.launch_nat(refuse=refusals)
    assert boot.returncode == 0, boot.output
    refused = [c.action for c in boot.calls if c.outcome == "UnauthorizedOperation"]
    assert sorted(refused) == sorted(action for action, times in refusals.items() for _ in range(times))
    egress_back_after(twin, time.monotonic())


@pytest.mark.parametrize("booted", ["prod"], indirect=True)
def test_drill_model_calls_survive_a_nat_stop_through_the_bedrock_endpoint(twin: VpcTwin) -> None:
    """Prod's NAT instance stopped: model calls still reach Bedrock by its endpoint; what needs the NAT (image pulls,
    secrets, logs) waits until a new instance forwards."""
    settings = settings_of(planned("prod"))
    source = next(twin.interfaces("litellm")).interface.key
    twin.terminate_nat()
    working = {name: twin.connect_aws(source, name, timeout=1.0) is not None
               for name in calls_of("litellm", settings.region, settings.bedrock_region, twin.model.account_id)}
    boot = twin.launch_nat()
    assert boot.returncode == 0, boot.output
    assert working.pop(bedrock_name(twin)), "model calls through the endpoint while the NAT is down"
    assert working and not any(working.values()), f"without the NAT these should wait: {working}"
    print(f"\n[prod] NAT instance down: {bedrock_name(twin)} answers (endpoint); waiting: {', '.join(working)}")
