"""The settings' validators on generated values, each against an oracle of its own rule (Hypothesis, derandomized):
the VPC range (private IPv4, /16 to /24, by `ipaddress`), viewer allow lists (any CIDR but one for everyone),
stack tags (AWS's tag rules), RDS identifiers (RDS's naming rules), Fargate sizes (the ECS table, restated per
CPU), log retention (the values botocore's CloudWatch Logs model lists), the origin's read timeout (CloudFront's
limit per origin kind) and the names egress may add (DNS's hostname rule, wildcards below a registrable name).
A validator that takes what its rule refuses, or refuses what it allows, fails here with the value."""

from __future__ import annotations

import ipaddress
import re

import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aws_limits import MAX_STACK_TAGS
from offline.engine import stack_settings
from settings import DatabaseRestore, SettingsError
from tests.stacks import config_with

CHECKED = settings(max_examples=150, derandomize=True, database=None, deadline=None)
PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def accepted(**override: object) -> bool:
    try:
        stack_settings("dev", config_with("dev", **override))
    except SettingsError:
        return False
    return True


# Addresses anywhere, and (most of the time) inside or at the edges of the private ranges, where the rule decides.
ADDRESSES = st.one_of(st.integers(min_value=0, max_value=2**32 - 1), *(
    st.integers(min_value=int(n.network_address) - 2**16, max_value=int(n.broadcast_address) + 2**16).map(
        lambda a: a % 2**32) for n in PRIVATE))


@CHECKED
@given(address=ADDRESSES, prefix=st.integers(min_value=4, max_value=30))
def test_the_vpc_range_is_private_and_sized_as_the_rule_says(address: int, prefix: int) -> None:
    network = ipaddress.ip_network((address, prefix), strict=False)
    allowed = any(network.subnet_of(p) for p in PRIVATE) and 16 <= prefix <= 24
    assert accepted(network={"vpcCidr": str(network)}) == allowed, network


@CHECKED
@given(cidrs=st.lists(st.one_of(
    st.builds(lambda a, p: str(ipaddress.ip_network((a, p), strict=False)), st.integers(0, 2**32 - 1),
              st.integers(0, 32)),
    st.builds(lambda a, p: str(ipaddress.ip_network((a, p), strict=False)), st.integers(0, 2**128 - 1),
              st.integers(0, 128))), min_size=1, max_size=3))
def test_a_viewer_list_takes_any_range_but_everyone(cidrs: list[str]) -> None:
    allowed = all(ipaddress.ip_network(c).prefixlen > 0 for c in cidrs)
    assert accepted(edge={"adminCidrs": cidrs}) == allowed, cidrs


TAG_TEXT = st.text(alphabet=st.sampled_from("aZ9 _.:/=+-@;#é"), max_size=12)


@CHECKED
@given(tags=st.dictionaries(st.one_of(TAG_TEXT, st.sampled_from(["aws:x", "AWS:Owner", "Aws:y", "k" * 129, ""])),
                            st.one_of(TAG_TEXT, st.just("v" * 257)), max_size=4))
def test_stack_tags_follow_awss_tag_rules(tags: dict[str, str]) -> None:
    """Keys 1-128 characters without the reserved aws: prefix, values up to 256, letters (any script), digits,
    spaces and _ . : / = + - @ (Tagging AWS resources, "Tag naming limits and requirements")."""
    characters = re.compile(r"^[\w\s.:/=+\-@]*$")
    allowed = len(tags) <= MAX_STACK_TAGS and all(
        1 <= len(k) <= 128 and len(v) <= 256 and not k.lower().startswith("aws:") and characters.match(k)
        and characters.match(v) for k, v in tags.items())
    assert accepted(tags=tags) == allowed, tags


@CHECKED
@given(name=st.text(alphabet=st.sampled_from("ab9-_A"), min_size=0, max_size=70))
def test_a_restore_source_is_named_as_rds_names_instances(name: str) -> None:
    """1-63 letters, digits or hyphens; a letter first; no two hyphens in a row; no hyphen last."""
    allowed = bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,62}", name)) and "--" not in name and not name.endswith("-")
    try:
        DatabaseRestore(source_identifier=name, time="latest")
    except ValueError:
        assert not allowed, name
    else:
        assert allowed, name


def fargate_offers(cpu: int, memory: int) -> bool:
    """Amazon ECS Developer Guide, "Task CPU and memory": 0.25 vCPU with 0.5, 1 or 2 GB; 0.5 vCPU with 1-4 GB;
    1 vCPU with 2-8 GB; 2 vCPU with 4-16 GB and 4 vCPU with 8-30 GB, in 1 GB steps; 8 vCPU with 16-60 GB in 4 GB
    steps; 16 vCPU with 32-120 GB in 8 GB steps."""
    gib, whole = divmod(memory, 1024)
    if cpu == 256:
        return memory in (512, 1024, 2048)
    low, high, step = {512: (1, 4, 1), 1024: (2, 8, 1), 2048: (4, 16, 1), 4096: (8, 30, 1), 8192: (16, 60, 4),
                       16384: (32, 120, 8)}.get(cpu, (1, 0, 1))
    return whole == 0 and low <= gib <= high and (gib - low) % step == 0


SIZES = st.sampled_from([128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 1000])


@CHECKED
@given(cpu=st.one_of(SIZES, st.integers(0, 20000)), memory=st.one_of(
    st.integers(0, 130).map(lambda half_gib: half_gib * 512), st.integers(0, 130000)))
def test_a_service_takes_exactly_the_sizes_fargate_offers(cpu: int, memory: int) -> None:
    assert accepted(grafana={"cpu": cpu, "memory": memory}) == fargate_offers(cpu, memory), (cpu, memory)


def retention_values_aws_lists() -> set[int]:
    logs = botocore.session.get_session().get_service_model("logs")
    text = logs.operation_model("PutRetentionPolicy").input_shape.members["retentionInDays"].documentation
    listed = text.split("Possible values are:", 1)[1].split(".", 1)[0]
    return {int(n) for n in re.findall(r"\d+", listed)}


@CHECKED
@given(days=st.one_of(st.sampled_from(sorted(retention_values_aws_lists())), st.integers(-1, 4000)))
def test_log_retention_takes_the_values_cloudwatch_lists(days: int) -> None:
    assert accepted(logRetentionDays=days) == (days in retention_values_aws_lists()), days


DOMAIN = {"name": "llm.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}


@CHECKED
@given(mode=st.sampled_from(["vpc-origin", "public-alb"]), seconds=st.one_of(
    st.integers(-2, 300), st.sampled_from([0, 1, 60, 119, 120, 121, 179, 180, 181])))
def test_the_origin_read_timeout_is_within_cloudfronts_limit_for_its_origin(mode: str, seconds: int) -> None:
    """botocore's CloudFront model (CustomOriginConfig and VpcOriginConfig, OriginReadTimeout): 1 to 120 seconds.
    A public ALB may go to 180 (AWS re:Post, "custom origin response": up to 180 with a quota increase); a VPC
    origin may not."""
    allowed = 1 <= seconds <= (120 if mode == "vpc-origin" else 180)
    assert accepted(edge={"originMode": mode, "domain": DOMAIN, "originReadTimeoutSeconds": seconds}) == allowed


LABELS = st.one_of(st.text(alphabet=st.sampled_from("ab9-"), min_size=0, max_size=8), st.sampled_from(
    ["*", "com", "co", "c", "1x", "x" * 63, "x" * 64, "a-", "-a", "A", ""]))


def is_allowed_name(name: str) -> bool:
    """A hostname (RFC 1123: labels of 1-63 letters, digits and inner hyphens, 253 characters in all) whose last
    label is a top-level domain's (letters, 2-63), with or without the root's dot; `*.` in front only over at
    least a registrable name."""
    bare = name.lower().removesuffix(".").removeprefix("*.")
    labels = bare.split(".")
    hostname = len(bare) <= 253 and len(labels) >= 2 and all(
        1 <= len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
        and not label.startswith("-") and not label.endswith("-") for label in labels)
    top = labels[-1].isalpha() and 2 <= len(labels[-1]) <= 63
    return hostname and top and len(name.removesuffix(".")) <= 253


@CHECKED
@given(labels=st.lists(LABELS, min_size=1, max_size=4))
def test_egress_takes_hostnames_and_wildcards_below_a_registrable_name(labels: list[str]) -> None:
    name = ".".join(labels)
    assert accepted(egress={"extraDomains": [name]}) == is_allowed_name(name), name


@pytest.mark.parametrize("cidr", ["10.10.0.0/16", "172.31.0.0/20", "192.168.10.0/24"])
def test_the_usual_vpc_ranges_are_accepted(cidr: str) -> None:
    assert accepted(network={"vpcCidr": cidr})
