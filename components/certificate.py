"""An ACM certificate for one hostname, validated through its Route 53 zone (used for the viewer and the origin)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True, kw_only=True)
class CertifiedHostname:
    """A hostname served over HTTPS: its Route 53 zone and the ACM certificate that covers it."""

    hostname: str
    hosted_zone_id: str
    certificate_arn: pulumi.Input[str]


@dataclass(frozen=True, kw_only=True)
class CertificateArgs:
    domain_name: str
    hosted_zone_id: str


class Certificate(pulumi.ComponentResource):
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: CertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:edge:Certificate", name, None, opts)
        certificate = aws.acm.Certificate(f"{name}-acm", domain_name=args.domain_name, validation_method="DNS",
                                          key_algorithm="EC_prime256v1",
                                          opts=pulumi.ResourceOptions(parent=self))
        option = certificate.domain_validation_options[0]
        record = aws.route53.Record(
            f"{name}-validation", zone_id=args.hosted_zone_id, name=option.resource_record_name,
            type=option.resource_record_type, records=[option.resource_record_value], ttl=300,
            allow_overwrite=True, opts=pulumi.ResourceOptions(parent=self))
        validation = aws.acm.CertificateValidation(
            f"{name}-validated", certificate_arn=certificate.arn, validation_record_fqdns=[record.fqdn],
            opts=pulumi.ResourceOptions(parent=self))
        self.arn = validation.certificate_arn
        self.register_outputs({"arn": self.arn})
