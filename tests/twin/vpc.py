"""The VPC twin: the planned network built in Linux network namespaces, with real packets.

Layout (one namespace each):
- a host per network interface (a task, a database node, an ALB node, the NAT instance with both its interfaces),
  configured as the instance's OS configures it;
- a *shim* per interface between the host and the VPC: it is the hypervisor's side of the interface, where AWS
  applies the interface's security groups (stateful, tracked per interface: the shim's own conntrack) and the
  source/destination check;
- the VPC router: each subnet's route table as a Linux routing table chosen by the interface a packet came from, the
  local route first; the internet gateway's one-to-one address translation on its link to the internet;
- the internet: AWS's public endpoints (stand-ins), CloudFront's origin-facing fleet and a stranger.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tests.twin import netns
from tests.twin.model import S3_STAND_IN, Interface, Model, Rule
from tests.twin.plan import ENDPOINT_PORT
from tests.twin.resolver import resolve
from tests.twin.stand_ins import BannerListener, Ec2Call, Ec2World, HttpStandIn, TestCa, call, ec2_api, imds

HERE = Path(__file__).resolve().parent
LOCAL_TABLE = 900
IGW_LINK = ("100.127.0.1", "100.127.0.2")
S3_ENDPOINT_LINK = ("100.127.1.1", "100.127.1.2")
PUBLIC_POOL = ipaddress.ip_network("198.51.100.0/24")
CLOUDFRONT_FLEET = "192.0.2.10"
STRANGER = "203.0.113.66"
TLS_PORTS = {6379, 2049}  # Valkey with in-transit encryption; EFS mounted with TLS
# amazon-ec2-net-utils (lib/lib.sh): main-table metric 512 + device number; secondary interfaces also get a rule
# `from <address> lookup 10000 + device number` and that table's default route and subnet route.
METRIC_BASE, RULE_BASE = 512, 10000


@dataclass
class Link:
    """An interface as the twin wired it: its host, its shim, its place on the VPC router."""

    interface: Interface
    index: int
    host: str
    shim: str
    device: str = "eth0"

    @property
    def uplink(self) -> tuple[str, str]:
        """(VPC router side, shim side) of the shim's link to the router."""
        return f"100.64.{self.index}.1", f"100.64.{self.index}.2"


@dataclass
class Boot:
    """One NAT instance launch: its log, how long the user data took, and the EC2 calls it made."""

    instance_id: str
    namespace: str
    output: str
    seconds: float
    returncode: int
    calls: list[Ec2Call]


@dataclass
class NatState:
    generation: int = 0
    instance_id: str = ""
    namespace: str = ""
    primary: Link | None = None
    imds: HttpStandIn | None = None
    eip_on: str | None = None
    static_attached: bool = False


class VpcTwin:
    def __init__(self, model: Model, ca: TestCa, aws_names: dict[str, str], workdir: Path) -> None:
        self.model, self.ca, self.aws_names, self.workdir = model, ca, aws_names, workdir
        # Named after this process, so runs in parallel never meet and a killed run's are swept away.
        self.prefix = f"tw{os.getpid()}{model.stack[:2]}-"
        self.vpc, self.internet, self.park = (f"{self.prefix}{n}" for n in ("vpc", "inet", "park"))
        self.links: dict[str, Link] = {}
        self.tables = {table: 1000 + n for n, table in enumerate(model.route_tables)}
        self.nat = NatState()
        # Private address -> public address, as the internet gateway translates them.
        self.public_of: dict[str, str] = {}
        self._indices = iter(range(1, 255))
        self._applied: dict[str, str] = {}
        self.listeners: list[BannerListener | HttpStandIn] = []
        # What the twin read but could not build (a route target it does not carry), besides model.unmodelled.
        self.skipped: list[str] = []
        self.ec2 = Ec2World(region=model.region, account_id=model.account_id, role_documents={},
                            tags={model.nat.static_eni: model.nat.static_eni_tags},
                            effects={"AssociateAddress": self._associate, "AttachNetworkInterface": self._attach,
                                     "ModifyNetworkInterfaceAttribute": self._modify})

    # --- building ------------------------------------------------------------------------------------------------

    def build(self) -> VpcTwin:
        netns.sweep_stale()
        for namespace in (self.vpc, self.internet, self.park):
            netns.add(namespace)
        self._router()
        self._internet()
        for interface in self.model.interfaces:
            parked = interface.unit == "nat-eni"
            self._wire(interface, host=self.park if parked else f"{self.prefix}{interface.key}",
                       device="eth1" if parked else "eth0")
        self._route_tables()
        self._apply_security()
        for link in self.links.values():
            self._listen(link)
        return self

    def close(self) -> None:
        for listener in self.listeners:
            listener.close()
        if self.nat.imds:
            self.nat.imds.close()
        for namespace in netns.existing(self.prefix):
            netns.delete(namespace)

    def _router(self) -> None:
        igw, s3 = IGW_LINK, S3_ENDPOINT_LINK
        netns.ip(self.vpc, "link", "add", "name", "igw", "type", "veth", "peer", "name", "vpc", "netns", self.internet)
        netns.ip(self.vpc, "link", "add", "name", "vpce", "type", "veth", "peer", "name", "vpce", "netns",
                 self.internet)
        commands = [f"addr add {igw[0]}/30 dev igw", f"addr add {s3[0]}/30 dev vpce", "link set igw up",
                    "link set vpce up", f"rule add to {self.model.vpc_cidr} lookup {LOCAL_TABLE} pref 100",
                    f"route add unreachable {self.model.vpc_cidr} table {LOCAL_TABLE}",
                    f"rule add iif igw lookup {LOCAL_TABLE} pref 200",
                    f"rule add iif vpce lookup {LOCAL_TABLE} pref 200"]
        netns.ip_batch(self.vpc, commands)
        netns.sysctl(self.vpc, {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "0",
                                "net.ipv4.conf.default.rp_filter": "0"})
        # The internet gateway translates each public address to its interface's private one and back, and passes
        # nothing from a private address that has none (VPC User Guide, "Internet gateways"). The S3 gateway endpoint
        # carries only connections the VPC opened, only to S3.
        netns.nft(self.vpc, f"""
table ip igw {{
  set mapped {{ type ipv4_addr; }}
  map public_of {{ type ipv4_addr : ipv4_addr; }}
  map private_of {{ type ipv4_addr : ipv4_addr; }}
  chain pre {{ type nat hook prerouting priority dstnat; iifname "igw" dnat to ip daddr map @private_of; }}
  chain post {{ type nat hook postrouting priority srcnat; oifname "igw" snat to ip saddr map @public_of; }}
  chain forward {{ type filter hook forward priority filter;
    oifname "igw" ip saddr != @mapped drop
    iifname "vpce" ct state new drop
    oifname "vpce" ip daddr != {S3_STAND_IN} drop
  }}
}}""")

    def _route_tables(self) -> None:
        """Each route table's routes; a target the twin cannot carry is left out and named in `skipped`."""
        commands = []
        for table, routes in self.model.route_tables.items():
            commands.append(f"route add unreachable default table {self.tables[table]}")
            for route in routes:
                hop = self._hop(route.target)
                if hop:
                    commands.append(f"route replace {route.destination} {hop} table {self.tables[table]}")
                else:
                    self._skip(f"route {route.destination} -> {route.target} in {table}")
        netns.ip_batch(self.vpc, commands)

    def _skip(self, what: str) -> None:
        if what not in self.skipped:
            self.skipped.append(what)

    def _hop(self, target: str) -> str | None:
        if target == "igw":
            return f"via {IGW_LINK[1]} dev igw"
        if target == "s3":
            return f"via {S3_ENDPOINT_LINK[1]} dev vpce"
        link = self._link_of_eni(target.removeprefix("eni:")) if target.startswith("eni:") else None
        return f"via {link.uplink[1]} dev r{link.index}" if link else None

    def _internet(self) -> None:
        commands = [f"addr add {IGW_LINK[1]}/30 dev vpc", f"addr add {S3_ENDPOINT_LINK[1]}/30 dev vpce",
                    "link set vpc up", "link set vpce up", f"route add {PUBLIC_POOL} via {IGW_LINK[0]}",
                    f"route add {self.model.vpc_cidr} via {S3_ENDPOINT_LINK[0]}",
                    *(f"addr add {address}/32 dev lo" for address in
                      {*self.aws_names.values(), CLOUDFRONT_FLEET, STRANGER})]
        netns.ip_batch(self.internet, commands)
        ec2_name = f"ec2.{self.model.region}.amazonaws.com"
        for name, address in self.aws_names.items():
            if name != ec2_name:
                self.listeners.append(BannerListener(self.internet, address, 443, name, self.ca.server_context()))
        self.listeners.append(ec2_api(self.internet, self.aws_names[ec2_name], self.ec2, self.ca))

    def _wire(self, interface: Interface, host: str, device: str, metric: int = METRIC_BASE) -> Link:
        index = next(self._indices)
        link = Link(interface, index=index, host=host, shim=f"{self.prefix}s{index}", device=device)
        if not (netns.NETNS_DIR / host).exists():
            netns.add(host)
        netns.add(link.shim)
        router_side, shim_side = link.uplink
        netns.ip(link.shim, "link", "add", "name", "ehost", "type", "veth", "peer", "name", device, "netns", host)
        netns.ip(link.shim, "link", "add", "name", "evpc", "type", "veth", "peer", "name", f"r{link.index}", "netns",
                 self.vpc)
        address, subnet = interface.address, interface.subnet
        netns.ip_batch(link.shim, [
            f"addr add {subnet.gateway}/32 dev ehost", f"addr add {shim_side}/30 dev evpc", "link set ehost up",
            "link set evpc up",
            "rule add iif ehost lookup 100 pref 100", f"route add default via {router_side} dev evpc table 100",
            "rule add iif evpc lookup 200 pref 200", f"route add default via {address} dev ehost onlink table 200"])
        netns.sysctl(link.shim, {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "0",
                                 "net.ipv4.conf.ehost.rp_filter": "0", "net.ipv4.conf.evpc.rp_filter": "0",
                                 # AWS answers for every address in the subnet, at once (no proxy-ARP delay).
                                 "net.ipv4.conf.ehost.proxy_arp": "1", "net.ipv4.neigh.ehost.proxy_delay": "0"})
        netns.ip_batch(self.vpc, [
            f"addr add {router_side}/30 dev r{link.index}", f"link set r{link.index} up",
            f"route add {address}/32 via {shim_side} dev r{link.index} table {LOCAL_TABLE}",
            f"rule add iif r{link.index} lookup {self.tables[subnet.route_table]} pref 1000"])
        if host != self.park:
            self._configure_host(link, metric)
        if interface.public:
            self._map_public(address, str(PUBLIC_POOL.network_address + 200 + link.index))
        self.links[interface.key] = link
        return link

    def _configure_host(self, link: Link, metric: int) -> None:
        interface, device = link.interface, link.device
        commands = [f"addr add {interface.address}/{interface.subnet.prefixlen} dev {device}", f"link set {device} up",
                    f"route add default via {interface.subnet.gateway} dev {device} metric {metric}"]
        if interface.eni_id:
            commands.append(f"link property add dev {device} altname {interface.eni_id}")
        if metric > METRIC_BASE:
            table = RULE_BASE + metric - METRIC_BASE
            commands += [f"route add default via {interface.subnet.gateway} dev {device} table {table}",
                         f"route add {interface.subnet.cidr} dev {device} table {table}",
                         f"rule add from {interface.address} lookup {table} pref {table}"]
        netns.ip_batch(link.host, commands)

    def _map_public(self, private: str, public: str) -> None:
        self.public_of[private] = public
        netns.run("ip", "netns", "exec", self.vpc, "nft", f"add element ip igw mapped {{ {private} }}; "
                  f"add element ip igw public_of {{ {private} : {public} }}; "
                  f"add element ip igw private_of {{ {public} : {private} }}")

    def _unmap_public(self, private: str) -> None:
        public = self.public_of.pop(private, None)
        if public:
            netns.run("ip", "netns", "exec", self.vpc, "nft", f"delete element ip igw mapped {{ {private} }}; "
                      f"delete element ip igw public_of {{ {private} }}; "
                      f"delete element ip igw private_of {{ {public} }}")

    # --- security groups as AWS applies them ----------------------------------------------------------------------

    def _members(self, group_id: str) -> list[str]:
        return [link.interface.address for link in self.links.values() if group_id in link.interface.groups]

    def _peers(self, rule: Rule) -> list[str]:
        if rule.cidr:
            if ipaddress.ip_network(rule.cidr).version == 4:
                return [rule.cidr]
            self._skip(f"IPv6 rule {rule} (the twin is IPv4 only)")
            return []
        if rule.prefix_list:
            return self.model.prefix_lists.get(rule.prefix_list, [])
        return self._members(rule.group_id or "")

    def _match(self, rule: Rule, peer_field: str) -> str | None:
        peers = self._peers(rule)
        if not peers:
            return None
        match = f"{peer_field} {{ {', '.join(peers)} }}"
        if rule.protocol in ("tcp", "udp"):
            low, high = rule.ports
            match += f" {rule.protocol} dport {low}" + (f"-{high}" if high != low else "")
        elif rule.protocol == "icmp":
            match += " meta l4proto icmp"
        elif rule.protocol != "all":
            raise netns.TwinError(f"security group rule {rule}: protocol the twin does not apply")
        return f"{match} accept"

    def _ruleset(self, link: Link) -> str:
        interface = link.interface
        groups = [self.model.groups[g] for g in interface.groups]
        egress = [m for g in groups for r in g.egress if (m := self._match(r, "ip daddr"))]
        ingress = [m for g in groups for r in g.ingress if (m := self._match(r, "ip saddr"))]
        check = [f'iifname "ehost" ip saddr != {interface.address} drop',
                 f'iifname "evpc" ip daddr != {interface.address} drop'] if interface.source_dest_check else []
        return "\n".join(["table inet sg", "delete table inet sg", "table inet sg {",
                          "  chain egress {", *egress, "  }", "  chain ingress {", *ingress, "  }",
                          "  chain forward { type filter hook forward priority filter; policy drop;", *check,
                          "    ct state established,related accept",
                          # Not part of a flow this interface tracks (new, or mid-stream as a reply leg that came in
                          # elsewhere): judged by the rules, as AWS judges it.
                          '    iifname "ehost" jump egress', '    iifname "evpc" jump ingress',
                          "  }", "}"])

    def _apply_security(self) -> None:
        """Each interface's rules, rendered again (a group's members change as interfaces come and go) and applied
        where they changed; connections already tracked stay tracked, as in AWS."""
        for link in self.links.values():
            ruleset = self._ruleset(link)
            if self._applied.get(link.shim) != ruleset:
                netns.nft(link.shim, ruleset)
                self._applied[link.shim] = ruleset

    def _listen(self, link: Link) -> None:
        tls = TLS_PORTS | ({ENDPOINT_PORT} if link.interface.unit.startswith("vpce-") else set())
        for port in link.interface.listens:
            self.listeners.append(BannerListener(link.host, link.interface.address, port, link.interface.key,
                                                 self.ca.server_context() if port in tls else None))

    # --- connections ---------------------------------------------------------------------------------------------

    def connect(self, source: str, address: str, port: int, timeout: float = 1.5) -> dict[str, Any] | None:
        """From a host (an interface key, or an address in the internet) to an address: the stand-in's answer, or
        None when nothing answered."""
        if source in self.links:
            namespace, source_address = self.links[source].host, None
        else:
            namespace, source_address = self.internet, source
        tls = self.ca.client_context(check_hostname=False) if port in TLS_PORTS else None
        return call(namespace, address, port, timeout=timeout, tls=tls, source_address=source_address)

    def resolve(self, name: str) -> list[str] | None:
        """What the VPC's resolver answers for `name` (None: NXDOMAIN)."""
        return resolve(name, self.model.firewall, self.model.private_dns, self.aws_names)

    def connect_aws(self, source: str, name: str, port: int = 443, timeout: float = 1.5,
                    literal: str | None = None) -> dict[str, Any] | None:
        """TLS to a name, as an SDK would: resolved by the VPC's resolver (None when it answers no address), or at
        a `literal` address that skips it; the certificate must name it."""
        addresses = [literal] if literal else self.resolve(name)
        if not addresses:
            return None
        return call(self.links[source].host, addresses[0], port, timeout=timeout, tls=self.ca.client_context(),
                    server_name=name)

    def interfaces(self, unit: str) -> Iterator[Link]:
        return (link for link in self.links.values() if link.interface.unit == unit)

    # --- the NAT instance -----------------------------------------------------------------------------------------

    def launch_nat(self, refuse: dict[str, int] | None = None) -> Boot:
        """Launch as the auto scaling group does: a new instance from the launch template, its primary interface in
        the group's subnet, then its user data."""
        nat, state = self.model.nat, self.nat
        state.generation += 1
        state.instance_id, state.namespace = f"i-{state.generation:017x}", f"{self.prefix}nat{state.generation}"
        primary = Interface(key=f"nat{state.generation}", unit="nat", subnet=nat.subnet, groups=list(nat.groups),
                            eni_id=f"eni-{state.generation:017x}", address=nat.subnet.host(200 + state.generation))
        state.primary = self._wire(primary, host=state.namespace, device="eth0")
        if nat.public_at_launch:
            self._map_public(primary.address, str(PUBLIC_POOL.network_address + 100 + state.generation))
        self._apply_security()
        access_key = f"ASIATWIN{state.generation:012d}"
        self.ec2.role_documents[access_key] = nat.role_documents
        self.ec2.tags |= {state.instance_id: nat.instance_tags, primary.eni_id: nat.interface_tags}
        self.ec2.refuse = dict(refuse or {})
        self.ec2.attachments[primary.eni_id] = state.instance_id
        state.imds = self._metadata(primary, access_key)
        return self._run_user_data()

    def _metadata(self, primary: Interface, access_key: str) -> HttpStandIn:
        state, nat = self.nat, self.model.nat
        netns.ip(state.namespace, "addr", "add", "169.254.169.254/32", "dev", "lo")
        (shown,) = json.loads(netns.run("ip", "-n", state.namespace, "-j", "link", "show", "eth0").stdout)
        mac = shown["address"]
        credentials = {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": access_key,
                       "SecretAccessKey": secrets.token_hex(20), "Token": secrets.token_hex(32),
                       "Expiration": "2099-01-01T00:00:00Z", "LastUpdated": "2026-01-01T00:00:00Z"}
        return imds(state.namespace, {
            "instance-id": state.instance_id, "placement/region": self.model.region, "mac": mac,
            f"network/interfaces/macs/{mac}/interface-id": primary.eni_id,
            "iam/security-credentials": nat.role_name, f"iam/security-credentials/{nat.role_name}":
                json.dumps(credentials)})

    def _run_user_data(self) -> Boot:
        """The launch template's user data, as cloud-init runs it: in the instance's network namespace, with its own
        /etc (an overlay, so the machine's /etc is untouched) that resolves AWS's names to the stand-ins."""
        state = self.nat
        instance_dir = self.workdir / state.namespace
        for sub in ("upper", "work"):
            (instance_dir / sub).mkdir(parents=True, exist_ok=True)
        hosts = Path("/etc/hosts").read_text() + "".join(f"{a} {n}\n" for n, a in self.aws_names.items())
        (instance_dir / "upper" / "hosts").write_text(hosts)
        (instance_dir / "user-data").write_text(self.model.nat.user_data)
        venv_bin = Path(shutil.which("aws") or "/nonexistent").parent
        environment = {"PATH": f"{HERE / 'bin'}:{venv_bin}:/usr/sbin:/usr/bin:/sbin:/bin",
                       "HOME": str(instance_dir), "AWS_CA_BUNDLE": str(self.ca.bundle),
                       "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                       "TWIN_FCK_NAT": str(HERE / "fck-nat.sh")}
        overlay = f"lowerdir=/etc,upperdir={instance_dir / 'upper'},workdir={instance_dir / 'work'}"
        started, calls_before = time.monotonic(), len(self.ec2.calls)
        done = subprocess.run(["ip", "netns", "exec", state.namespace, "sh", "-c",
                               f"mount -t overlay overlay -o {overlay} /etc && exec sh {instance_dir / 'user-data'}"],
                              env=environment, capture_output=True, text=True, timeout=240, check=False)
        return Boot(state.instance_id, state.namespace, done.stdout + done.stderr, time.monotonic() - started,
                    done.returncode, self.ec2.calls[calls_before:])

    def terminate_nat(self) -> None:
        """The instance goes: its primary interface with it (delete on termination), the static ENI detached back
        to where it waits, the Elastic IP left unassociated."""
        state = self.nat
        if state.static_attached:
            static = self.links["nat-eni"]
            netns.ip(state.namespace, "link", "set", "dev", static.device, "netns", self.park)
            netns.ip_batch(self.park, [f"link set dev {static.device} down", f"addr flush dev {static.device}",
                                       f"link property del dev {static.device} altname {static.interface.eni_id}"])
            static.host, state.static_attached = self.park, False
            self.ec2.attachments.pop(static.interface.eni_id, None)
        if state.imds:
            state.imds.close()
            state.imds = None
        if state.primary:
            self._unmap_public(state.primary.interface.address)
            del self.links[state.primary.interface.key]
            self._applied.pop(state.primary.shim, None)
            netns.delete(state.primary.shim)
            state.primary, state.eip_on = None, None
        netns.delete(state.namespace)
        self._apply_security()

    # --- what the EC2 API does when a call is allowed ---------------------------------------------------------------

    def _link_of_eni(self, eni_id: str) -> Link | None:
        return next((link for link in self.links.values() if link.interface.eni_id == eni_id), None)

    def _associate(self, params: dict[str, str]) -> str | None:
        nat = self.model.nat
        link = self._link_of_eni(params.get("NetworkInterfaceId", ""))
        if params.get("AllocationId") != nat.allocation_id or link is None:
            return f"unknown allocation or interface: {params}"
        if self.nat.eip_on and self.nat.eip_on != link.interface.address and params.get("AllowReassociation") != "true":
            return "Resource.AlreadyAssociated"
        if self.nat.eip_on:
            self._unmap_public(self.nat.eip_on)
        # An Elastic IP on an interface replaces its automatically assigned public address.
        self._unmap_public(link.interface.address)
        self._map_public(link.interface.address, nat.elastic_ip)
        self.nat.eip_on = link.interface.address
        return None

    def _modify(self, params: dict[str, str]) -> str | None:
        link = self._link_of_eni(params.get("NetworkInterfaceId", ""))
        if link is None or "SourceDestCheck.Value" not in params:
            return f"unsupported change: {params}"
        link.interface = replace(link.interface, source_dest_check=params["SourceDestCheck.Value"] == "true")
        self._apply_security()
        return None

    def _attach(self, params: dict[str, str]) -> str | None:
        state, static = self.nat, self.links["nat-eni"]
        if params.get("InstanceId") != state.instance_id or params.get("NetworkInterfaceId") != static.interface.eni_id:
            return f"unknown instance or interface: {params}"
        if state.static_attached:
            return "InvalidNetworkInterface.InUse"
        device = f"eth{params.get('DeviceIndex', '1')}"
        netns.ip(self.park, "link", "set", "dev", static.device, "netns", state.namespace, "name", device)
        self.ec2.attachments[static.interface.eni_id] = state.instance_id
        static.device, static.host = device, state.namespace
        self._configure_host(static, METRIC_BASE + int(params.get("DeviceIndex", "1")))
        state.static_attached = True
        return None
