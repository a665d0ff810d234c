"""Helpers shared by the policies: unknown values during preview, IAM documents, networks."""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Callable, Iterator
from typing import Any

from pulumi_policy.proxy import UnknownValueError

ANYWHERE = ("0.0.0.0/0", "::/0")
PRIVATE_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def skip_unknowns(validate: Callable[..., None]) -> Callable[..., None]:
    """A value not known until the update (a preview of new resources) makes the check not applicable."""

    @functools.wraps(validate)
    def checked(args: Any, report: Callable[..., None]) -> None:
        try:
            validate(args, report)
        except UnknownValueError as unknown:
            args.not_applicable(f"unknown during preview: {unknown.message}")

    return checked


def is_private(cidr: str) -> bool:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return network.version == 4 and any(network.subnet_of(r) for r in PRIVATE_RANGES)


def policy_statements(document: Any) -> Iterator[dict[str, Any]]:
    """The statements of an IAM policy given as JSON text or as an object."""
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    yield from [statements] if isinstance(statements, dict) else statements


def as_list(value: Any) -> list[Any]:
    """A value that may be one item or a list (also the engine's read-only list proxies) as a list."""
    if value is None:
        return []
    if isinstance(value, str | bytes) or hasattr(value, "keys") or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def config_value(args: Any, key: str, default: Any) -> Any:
    config = args.get_config() if hasattr(args, "get_config") else {}
    return (config or {}).get(key, default)
