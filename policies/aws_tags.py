"""Which AWS resources take tags, and the tags a resource ends up with, as pulumi-aws decides them.

No hand-kept list: the pulumi-aws SDK class for a type token says whether it accepts `tags`, and whether the
provider's `defaultTags` reach it (resources with a `tags_all` output). Auto scaling groups take a list of
{key, value, propagateAtLaunch} and no default tags, so their own list must carry the required keys.
"""

from __future__ import annotations

import importlib
import inspect
import json
import keyword
from collections.abc import Mapping
from functools import cache
from typing import Any


def sdk_module(type_token: str) -> str | None:
    """The Python module of an AWS type token: Pulumi's codegen puts `index` at the root and adds `_` to a module
    named by a Python keyword (aws:lambda/... lives in pulumi_aws.lambda_)."""
    package, module_path, _ = type_token.split(":")
    if package != "aws":
        return None
    module = module_path.split("/")[0]
    return "pulumi_aws" if module == "index" else f"pulumi_aws.{module}{'_' if keyword.iskeyword(module) else ''}"


@cache
def _sdk_class(type_token: str) -> type | None:
    module = sdk_module(type_token)
    if module is None:
        return None
    try:
        sdk = importlib.import_module(module)
    except ImportError:
        return None
    return getattr(sdk, type_token.split(":")[2], None)


def is_taggable(type_token: str) -> bool:
    cls = _sdk_class(type_token)
    return cls is not None and "tags" in inspect.signature(cls._internal_init).parameters


def receives_default_tags(type_token: str) -> bool:
    cls = _sdk_class(type_token)
    return cls is not None and hasattr(cls, "tags_all")


def provider_default_tags(provider_props: Mapping[str, Any] | None) -> dict[str, str]:
    """The `defaultTags.tags` of an AWS provider's inputs (Pulumi sends nested provider config as JSON)."""
    default_tags = (provider_props or {}).get("defaultTags") or {}
    if isinstance(default_tags, str):
        default_tags = json.loads(default_tags)
    return dict(default_tags.get("tags") or {})


def own_tags(props: Mapping[str, Any]) -> dict[str, str]:
    tags = props.get("tags") or {}
    if hasattr(tags, "keys"):
        return {key: tags[key] for key in tags}
    # Auto scaling groups: a list of {key, value, propagateAtLaunch}.
    return {t["key"]: t["value"] for t in tags if hasattr(t, "keys") and "key" in t}


def effective_tags(type_token: str, props: Mapping[str, Any],
                   provider_props: Mapping[str, Any] | None) -> dict[str, str]:
    """The tags AWS will hold for the resource: provider defaults (where they apply) under its own tags."""
    defaults = provider_default_tags(provider_props) if receives_default_tags(type_token) else {}
    return {**defaults, **own_tags(props)}
