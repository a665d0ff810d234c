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
    # Rotated by bumping this number: the new value becomes current, the one before stays valid as previous
    # (two alternating slots), so both ends of a shared secret can switch at their own pace.
    rotation: int | None = None


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
    # For rotated secrets: the value before the current one, still to be accepted.
    previous_values: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:secrets:Secrets", name, None, opts)
        self._name = name
        self.arns, self.values, self.previous_values = {}, {}, {}
        for spec in args.secrets:
            protect = spec.permanent and args.protect_permanent
            keep = pulumi.ResourceOptions(parent=self, protect=protect,
                                          ignore_changes=["*"] if spec.permanent else None)
            if spec.rotation is None:
                value = self._generate(spec, spec.key, None, keep)
            else:
                value, self.previous_values[spec.key] = self._rotating(spec, keep)
            secret = aws.secretsmanager.Secret(f"{name}-{spec.key}", description=spec.description,
                                               recovery_window_in_days=args.recovery_window_days,
                                               opts=pulumi.ResourceOptions(parent=self, protect=protect))
            aws.secretsmanager.SecretVersion(f"{name}-{spec.key}", secret_id=secret.id, secret_string=value,
                                             opts=keep)
            self.arns[spec.key], self.values[spec.key] = secret.arn, value
        self.register_outputs({"arns": self.arns})

    def _generate(self, spec: GeneratedSecret, key: str, keepers: dict[str, str] | None,
                  opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        generated = random.RandomPassword(f"{self._name}-{key}", length=spec.length, special=False, keepers=keepers,
                                          opts=opts)
        return pulumi.Output.secret(generated.result.apply(lambda r: spec.prefix + r))

    def _rotating(self, spec: GeneratedSecret, opts: pulumi.ResourceOptions) -> tuple[pulumi.Output[str],
                                                                                       pulumi.Output[str]]:
        """(current, previous): slot `even` holds the newest even version, `odd` the newest odd one; a bump
        regenerates only the slot of the new version's parity."""
        version = spec.rotation or 0
        slots = {parity: self._generate(spec, f"{spec.key}-{parity}",
                                        {"version": str(version if version % 2 == remainder else version - 1)}, opts)
                 for parity, remainder in (("even", 0), ("odd", 1))}
        current, previous = ("even", "odd") if version % 2 == 0 else ("odd", "even")
        return slots[current], slots[previous]
