#!/bin/sh
# What fck-nat's boot does, step by step, for the VPC twin (tests/twin/vpc.py runs it inside the NAT instance's
# namespace). Written for this project; each step names the line of AndrewGuenther/fck-nat service/fck-nat.sh
# (v1.4.0, main @ 193c58c, the script the AMIs published since carry) whose effect it reproduces, with the same
# commands and arguments. Steps for options our /etc/fck-nat.conf never sets are kept as conditions on them.

# fck-nat.sh:3-8 - read the configuration the user data wrote; it sets the variables tested below.
# shellcheck disable=SC1091,SC2154
if test -f /etc/fck-nat.conf; then
    . /etc/fck-nat.conf
fi

# fck-nat.sh:10-16 - IMDSv2: a token, then the instance, its region, its primary MAC and that interface's id; the
# primary interface is found by the altname amazon-ec2-net-utils gives it (its ENI id). The one change: `cut -d@ -f1`,
# as the twin's devices are veth pairs, which `ip link show` names `eth0@ifN`; EC2's ENA devices carry no suffix.
token="$(curl -s -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)"
instance_id="$(curl -s -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id)"
aws_region="$(curl -s -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/placement/region)"
outbound_mac="$(curl -s -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/mac)"
outbound_eni_id="$(curl -s -H "X-aws-ec2-metadata-token: $token" \
    "http://169.254.169.254/latest/meta-data/network/interfaces/macs/$outbound_mac/interface-id")"
nat_public_interface=$(ip link show dev "$outbound_eni_id" | head -n 1 | awk '{print $2}' | sed s/://g | cut -d@ -f1)
nat_private_interface=$nat_public_interface

# fck-nat.sh:18-27 - eip_id: associate the Elastic IP with the primary interface, once, then wait 3 s.
if test -n "$eip_id"; then
    aws ec2 associate-address --region "$aws_region" --allocation-id "$eip_id" \
        --network-interface-id "$outbound_eni_id" --allow-reassociation
    sleep 3
fi

# fck-nat.sh:29-63 - eni_id: source/dest check off on the primary interface (once), attach the static ENI as device 1
# (retried every 5 s until it succeeds), wait for it to appear, and take it as the private side.
if test -n "$eni_id"; then
    aws ec2 modify-network-interface-attribute --region "$aws_region" \
        --network-interface-id "$outbound_eni_id" --no-source-dest-check
    if ! ip link show dev "$eni_id" >/dev/null 2>&1; then
        while ! aws ec2 attach-network-interface --region "$aws_region" --instance-id "$instance_id" \
            --device-index 1 --network-interface-id "$eni_id"; do
            echo "Waiting for ENI to attach..."
            sleep 5
        done
        while ! ip link show dev "$eni_id" >/dev/null 2>&1; do
            sleep 1
        done
    fi
    nat_private_interface=$(ip link show dev "$eni_id" | head -n 1 | awk '{print $2}' | sed s/://g | cut -d@ -f1)
elif test -n "$interface"; then
    nat_public_interface=$interface
    nat_private_interface=$nat_public_interface
fi

# fck-nat.sh:65-75 - NAT64 only where jool is installed (not in the twin, nor in the plain fck-nat AMI we use).
if test -x /usr/local/bin/jool; then
    echo "jool present: NAT64 is not reproduced by the twin" >&2
    exit 1
fi

# fck-nat.sh:77-86 - forwarding on; optional port range and conntrack size.
sysctl -q -w net.ipv4.ip_forward=1
if test -n "$ip_local_port_range"; then sysctl -q -w net.ipv4.ip_local_port_range="$ip_local_port_range"; fi
if test -n "$nf_conntrack_max"; then sysctl -q -w net.netfilter.nf_conntrack_max="$nf_conntrack_max"; fi

# fck-nat.sh:111-114 - reverse-path filtering off on every interface.
# shellcheck disable=SC2044  # as upstream: the names under /proc/sys have no spaces
for i in $(find /proc/sys/net/ipv4/conf/ -name rp_filter); do
    echo 0 > "$i"
done

# fck-nat.sh:116-120 - masquerade everything that leaves by the public (primary) interface.
iptables -t nat -F
iptables -t nat -A POSTROUTING -o "$nat_public_interface" -j MASQUERADE -m comment \
    --comment "NAT routing rule installed by fck-nat"

# fck-nat.sh:122-125 - router advertisements and IPv6 forwarding.
sysctl -q -w net.ipv6.conf."$nat_public_interface".accept_ra=2
sysctl -q -w net.ipv6.conf."$nat_private_interface".accept_ra=2
sysctl -q -w net.ipv6.conf.all.forwarding=1
echo "fck-nat: forwarding from $nat_private_interface out of $nat_public_interface"
