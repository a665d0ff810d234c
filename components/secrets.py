"""Secrets Manager: values the gateway generates itself (never typed by a human), each kept as a Pulumi secret."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random


@dataclass(frozen=True, kw_only=True)
class GeneratedSecret:
    key: str
    description: str
    length: int = 48
    prefix: str = ""
    # Never regenerated once created (e.g. a key that encrypts stored data): its inputs are ignored.
    permanent: bool = False


@dataclass(frozen=True, kw_only=True)
class SecretsArgs:
    secrets: Sequence[GeneratedSecret]
    recovery_window_days: int
    # Pulumi `protect` on the permanent secrets: `pulumi destroy` refuses until it is lifted (stacks with
    # deletion protection); elsewhere destroy removes them like everything else.
    protect_permanent: bool


class Secrets(pulumi.ComponentResource):
    arns: dict[str, pulumi.Output[str]]
    values: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:secrets:Secrets", name, None, opts)
        self.arns, self.values = {}, {}
        for spec in args.secrets:
            protect = spec.permanent and args.protect_permanent
            keep = pulumi.ResourceOptions(parent=self, protect=protect,
                                          ignore_changes=["*"] if spec.permanent else None)
            generated = random.RandomPassword(f"{name}-{spec.key}", length=spec.length, special=False, opts=keep)
            value = pulumi.Output.secret(generated.result.apply(lambda r, p=spec.prefix: p + r))
            secret = aws.secretsmanager.Secret(f"{name}-{spec.key}", description=spec.description,
                                               recovery_window_in_days=args.recovery_window_days,
                                               opts=pulumi.ResourceOptions(parent=self, protect=protect))
            aws.secretsmanager.SecretVersion(f"{name}-{spec.key}", secret_id=secret.id, secret_string=value,
                                             opts=keep)
            self.arns[spec.key], self.values[spec.key] = secret.arn, value
        self.register_outputs({"arns": self.arns})
