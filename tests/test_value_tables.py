"""The program's tables of AWS values, checked against AWS's own published values (botocore's service models carry
the API reference text), never against themselves."""

from __future__ import annotations

import re

import botocore.session
import pytest

from aws_limits import FARGATE_MEMORY_BY_CPU, LOG_RETENTION_DAYS, VPC_ORIGIN_MAX_READ_TIMEOUT_SECONDS
from catalog import MODEL_CATALOG
from components.alb import MAX_PATHS_PER_RULE

MIB_PER_GB = 1024


def documentation(service: str, shape: str, member: str | None = None) -> str:
    model = botocore.session.get_session().get_service_model(service)
    found = model.shape_for(shape)
    text = found.members[member].documentation if member else found.documentation
    return re.sub(r"<[^>]+>", "", text)


def fargate_sizes_published() -> dict[int, tuple[int, ...]]:
    """ECS RegisterTaskDefinition `memory`: "512 (0.5 GB), 1024 (1 GB), 2048 (2 GB) - Available cpu values: 256",
    "Between 4096 (4 GB) and 16384 (16 GB) in increments of 1024 (1 GB) - ... 2048", "Between 16 GB and 60 GB in
    4 GB increments - ... 8192"."""
    model = botocore.session.get_session().get_service_model("ecs")
    member = model.operation_model("RegisterTaskDefinition").input_shape.members["memory"]
    text = re.sub(r"</li>", "\n", member.documentation)
    sizes: dict[int, tuple[int, ...]] = {}
    for line in re.sub(r"<[^>]+>", "", text).splitlines():
        cpu = re.search(r"Available cpu values: (\d+)", line)
        if not cpu:
            continue
        if between := re.search(r"Between (\d+) \(\d+ GB\) and (\d+) \(\d+ GB\) in increments of (\d+)", line):
            low, high, step = map(int, between.groups())
        elif between := re.search(r"Between (\d+) ?GB and (\d+) ?GB in (\d+) GB increments", line):
            low, high, step = (int(v) * MIB_PER_GB for v in between.groups())
        else:
            listed = [int(v) for v in re.findall(r"(\d+) \(\d+(?:\.\d+)? GB\)", line.split(" - ")[0])]
            sizes[int(cpu.group(1))] = tuple(listed)
            continue
        sizes[int(cpu.group(1))] = tuple(range(low, high + 1, step))
    return sizes


def test_fargate_sizes_are_the_ones_aws_publishes() -> None:
    published = fargate_sizes_published()
    assert len(published) == 7, "the parser read every CPU size"
    assert published == FARGATE_MEMORY_BY_CPU


def test_the_fargate_check_would_catch_a_changed_row() -> None:
    assert fargate_sizes_published()[1024] == (2048, 3072, 4096, 5120, 6144, 7168, 8192)
    assert fargate_sizes_published()[4096][-1] == 30720


def test_log_retention_values_are_the_ones_cloudwatch_accepts() -> None:
    text = documentation("logs", "Days")
    published = tuple(int(v) for v in re.findall(r"\d+", text.split("Possible values are:")[1].split(".")[0]))
    assert published[:3] == (1, 3, 5)
    assert published == LOG_RETENTION_DAYS


def test_vpc_origin_read_timeout_limit_is_cloudfronts() -> None:
    text = documentation("cloudfront", "VpcOriginConfig", "OriginReadTimeout")
    assert f"the maximum is {VPC_ORIGIN_MAX_READ_TIMEOUT_SECONDS} seconds" in text


def test_alb_rules_take_at_most_three_paths_beside_the_origin_header() -> None:
    """ELB User Guide, "Listener rules" (condition types): up to three match evaluations per condition, five per
    rule; the origin-verify header condition takes one of the five."""
    assert MAX_PATHS_PER_RULE == 3


# Bedrock pricing (aws.amazon.com/bedrock/pricing, Anthropic, on-demand, per 1M tokens; checked 2026-11) and
# Bedrock User Guide "Supported foundation models" for the ids.
PUBLISHED_MODELS = {
    "claude-haiku-4-5": ("anthropic.claude-haiku-4-5-20251001-v1:0", 1, 5),
    "claude-sonnet-4-5": ("anthropic.claude-sonnet-4-5-20250929-v1:0", 3, 15),
    "claude-opus-4-5": ("anthropic.claude-opus-4-5-20251101-v1:0", 5, 25),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_MODELS))
def test_model_ids_and_prices_are_the_published_ones(name: str) -> None:
    model = MODEL_CATALOG[name]
    assert (model.bedrock_id, model.input_usd_per_mtok, model.output_usd_per_mtok) == PUBLISHED_MODELS[name]
