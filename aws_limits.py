"""AWS's own limits and value sets the settings are checked against (each cited where it comes from; the tables
are tested against botocore's API documentation in tests/test_value_tables.py)."""

from __future__ import annotations

import ipaddress
import re

# Fargate's CPU units -> memory sizes (MiB) it offers for them.
FARGATE_MEMORY_BY_CPU: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}

# The values CloudWatch Logs accepts for a log group's retention (0, "never expire", is left out on purpose).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)

# CloudFront Developer Guide, "Restrict access with VPC origins" (supported Regions and Availability Zones).
VPC_ORIGIN_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-east-2", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "ap-southeast-7", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ca-central-1", "ca-west-1",
    "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1",
    "il-central-1", "me-south-1", "me-central-1", "sa-east-1", "mx-central-1",
)
VPC_ORIGIN_UNSUPPORTED_ZONE_IDS = ("use1-az3", "usw1-az2", "apne1-az3", "cac1-az3")
# API_VpcOriginConfig: OriginReadTimeout 1 to 120 seconds.
VPC_ORIGIN_MAX_READ_TIMEOUT_SECONDS = 120

PRIVATE_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))

# AWS tag rules: keys 1-128, values 0-256 characters, this character set, no reserved `aws:` prefix,
# at most 50 tags a resource (we keep 10 for per-resource tags such as Name).
TAG_CHARACTERS = re.compile(r"^[\w\s.:/=+\-@]*$")
MAX_STACK_TAGS = 40
