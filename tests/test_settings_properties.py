"""The settings' validators on generated values, each against an oracle of its own rule (Hypothesis, derandomized):
the VPC range (private IPv4, /16 to /24, by `ipaddress`), viewer allow lists (any CIDR but one for everyone),
stack tags (AWS's tag rules) and RDS identifiers (RDS's naming rules). A validator that takes what its rule refuses,
or refuses what it allows, fails here with the value."""

from __future__ import annotations

import ipaddress
import re

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


@pytest.mark.parametrize("cidr", ["10.10.0.0/16", "172.31.0.0/20", "192.168.10.0/24"])
def test_the_usual_vpc_ranges_are_accepted(cidr: str) -> None:
    assert accepted(network={"vpcCidr": cidr})
