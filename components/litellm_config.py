"""LiteLLM's config for a stack: the settings in images/litellm/config.base.yaml plus, from the catalogue, one route
per served model to its Bedrock inference profile and the hidden aliases clients send (dated names)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from catalog import MODEL_CATALOG

BASE_CONFIG = Path(__file__).resolve().parent.parent / "images" / "litellm" / "config.base.yaml"
# LiteLLM's shared state in Valkey (general_settings.coordination_redis, litellm 1.108.7 proxy_server.py
# `_init_coordination_redis`): spend counters, rate limits, key-cache invalidation, router cooldowns. Unlike
# `litellm_settings.cache` it never caches an LLM response. Over TLS, verified against the system CAs (ElastiCache's
# certificates chain to Amazon's roots); the address and AUTH token come from the task's environment.
SHARED_CACHE = {"host": "os.environ/REDIS_HOST", "port": "os.environ/REDIS_PORT",
                "password": "os.environ/REDIS_PASSWORD", "ssl": True}
# Anthropic's prompt caching prices, as multiples of the input price: reads 0.1x, writes (5 minutes) 1.25x.
CACHE_READ, CACHE_WRITE = 0.1, 1.25


def _route(name: str) -> dict[str, Any]:
    model = MODEL_CATALOG[name]
    route: dict[str, Any] = {"model_name": name, "litellm_params": {
        "model": f"bedrock/{model.profile_id}", "aws_region_name": "os.environ/AWS_REGION_NAME"}}
    if not model.priced_by_litellm:
        input_per_mtok, output_per_mtok = model.billed_usd_per_mtok
        input_cost = input_per_mtok / 1e6
        route["model_info"] = {
            "input_cost_per_token": input_cost,
            "output_cost_per_token": output_per_mtok / 1e6,
            # Without these LiteLLM bills cached tokens at the full input price (ten times a cache read).
            "cache_read_input_token_cost": input_cost * CACHE_READ,
            "cache_creation_input_token_cost": input_cost * CACHE_WRITE}
    return route


def render(models: Sequence[str], *, shared_cache: bool) -> str:
    """config.yaml for LiteLLM serving exactly `models` (catalogue names), with Valkey shared by its tasks or not."""
    config = yaml.safe_load(BASE_CONFIG.read_text())
    if shared_cache:
        # Not `use_redis_transaction_buffer`: with it every task hands its spend only to Valkey (db_spend_update_writer
        # .py), so while Valkey is down no spend reaches PostgreSQL and a task stopped meanwhile loses what it held.
        # Without it each task writes its own spend every 10-15 s; a few tasks do not deadlock the database.
        config["general_settings"] |= {"coordination_redis": SHARED_CACHE}
    config["model_list"] = [_route(name) for name in models]
    config["router_settings"] = {"model_group_alias": {
        alias: {"model": name, "hidden": True} for name in models
        for alias in MODEL_CATALOG[name].client_names[1:]}}
    return "# Rendered by components/litellm_config.py from the model catalogue; do not edit.\n" + yaml.safe_dump(
        config, sort_keys=False)
