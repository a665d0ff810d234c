"""Access logs of the edge, so abuse leaves a trail: the ALB's to an S3 bucket (encrypted, private, expiring),
CloudFront's standard logs (v2) and the WAF's to CloudWatch Logs in us-east-1, where both services live.

ELB delivers access logs only to an SSE-S3 encrypted bucket whose policy admits its log delivery: the regional ELB
account in Regions older than August 2022, the `logdelivery.elasticloadbalancing.amazonaws.com` service elsewhere
(ELB User Guide, "Enable access logs for your Application Load Balancer"); the policy names both where both apply.
WAF writes only to log groups whose name starts with `aws-waf-logs-`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.naming import stack_unique

ALB_PREFIX = "alb"
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"
# ELB User Guide, "Enable access logs for your Application Load Balancer", Regions available before August 2022.
ELB_ACCOUNT_BY_REGION = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "af-south-1": "098369216593", "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580", "ap-south-1": "718504428378", "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887", "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864", "ca-central-1": "985666609251", "eu-central-1": "054676820928",
    "eu-west-1": "156460612806", "eu-west-2": "652711504416", "eu-south-1": "635631232127",
    "eu-west-3": "009996457667", "eu-north-1": "897822967062", "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
}
WAF_LOG_PREFIX = "aws-waf-logs-"
# Headers that carry credentials: LiteLLM takes keys from all of these (proxy/auth/user_api_key_auth.py), and the
# cookie carries Grafana's session.
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "x-litellm-api-key", "x-goog-api-key",
                      "ocp-apim-subscription-key", "cookie")
# CloudFront standard log fields (v2) kept: no cookie, no query string.
CLOUDFRONT_FIELDS = ("date", "time", "x-edge-location", "c-ip", "c-port", "x-forwarded-for", "cs-method",
                     "cs-uri-stem", "sc-status", "sc-bytes", "cs-bytes", "time-taken", "time-to-first-byte",
                     "cs(User-Agent)", "cs-protocol", "cs-protocol-version", "ssl-protocol", "x-edge-result-type",
                     "x-edge-detailed-result-type", "x-edge-request-id", "sc-content-type")


@dataclass(frozen=True, kw_only=True)
class AlbLogBucketArgs:
    region: str
    account_id: str
    retention_days: int
    # Empty the bucket on destroy (stacks without deletion protection).
    force_destroy: bool = False


class AlbLogBucket(pulumi.ComponentResource):
    bucket: pulumi.Output[str]
    prefix: str
    # The bucket policy: the ALB checks at configuration time that it may write, so it waits for this.
    ready: pulumi.Resource

    def __init__(self, name: str, args: AlbLogBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:observability:AlbLogBucket", name, None, opts)
        self._name, self._args = name, args
        self.bucket, self.ready = self._bucket()
        self.prefix = ALB_PREFIX
        self.register_outputs({"bucket": self.bucket})

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _bucket(self) -> tuple[pulumi.Output[str], pulumi.Resource]:
        args = self._args
        bucket = aws.s3.Bucket(f"{self._name}-alb", force_destroy=args.force_destroy, opts=self._child())
        aws.s3.BucketPublicAccessBlock(f"{self._name}-alb", bucket=bucket.id, block_public_acls=True,
                                       block_public_policy=True, ignore_public_acls=True,
                                       restrict_public_buckets=True, opts=self._child())
        aws.s3.BucketOwnershipControls(f"{self._name}-alb", bucket=bucket.id,
                                       rule={"object_ownership": "BucketOwnerEnforced"}, opts=self._child())
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{self._name}-alb", bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}], opts=self._child())
        aws.s3.BucketLifecycleConfiguration(f"{self._name}-alb", bucket=bucket.id, rules=[{
            "id": "expire", "status": "Enabled", "filter": {"prefix": ""},
            "expiration": {"days": args.retention_days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 1}}], opts=self._child())
        policy = aws.s3.BucketPolicy(f"{self._name}-alb", bucket=bucket.id,
                                     policy=bucket.arn.apply(self._delivery_policy), opts=self._child())
        return bucket.id, policy

    def _delivery_policy(self, bucket_arn: str) -> str:
        objects = f"{bucket_arn}/{ALB_PREFIX}/AWSLogs/{self._args.account_id}/*"
        principals: list[dict[str, str]] = [{"Service": ELB_LOG_DELIVERY}]
        if account := ELB_ACCOUNT_BY_REGION.get(self._args.region):
            principals.append({"AWS": f"arn:aws:iam::{account}:root"})
        statements = [{"Sid": f"ElbLogDelivery{i}", "Effect": "Allow", "Principal": principal,
                       "Action": "s3:PutObject", "Resource": objects} for i, principal in enumerate(principals)]
        statements.append({"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                           "Resource": [bucket_arn, f"{bucket_arn}/*"],
                           "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
        return json.dumps({"Version": "2012-10-17", "Statement": statements})


@dataclass(frozen=True, kw_only=True)
class EdgeLogsArgs:
    retention_days: int
    distribution_arn: pulumi.Input[str]
    web_acl_arn: pulumi.Input[str] | None = None


class EdgeLogs(pulumi.ComponentResource):
    """Created with the us-east-1 provider: CloudFront's and the WAF's logs are delivered there."""

    def __init__(self, name: str, args: EdgeLogsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:observability:EdgeLogs", name, None, opts)
        self._name, self._args = name, args
        self._cloudfront_logs()
        if args.web_acl_arn is not None:
            self._waf_logs(args.web_acl_arn)
        self.register_outputs({})

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _group(self, key: str, name: str | None = None) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(f"{self._name}-{key}", name=name, retention_in_days=self._args.retention_days,
                                       opts=self._child())

    def _cloudfront_logs(self) -> None:
        """CloudFront standard logging v2 (CloudWatch vended logs): a delivery source for the distribution, a
        destination log group, the delivery between them; all in us-east-1."""
        edge = self._child()
        # Under /aws/vendedlogs/, CloudWatch Logs does not add the group to the account's shared delivery policy.
        group = self._group("cloudfront", name=f"/aws/vendedlogs/cloudfront/{stack_unique('access')}")
        source = aws.cloudwatch.LogDeliverySource(
            f"{self._name}-cloudfront", name=stack_unique("cloudfront"), log_type="ACCESS_LOGS",
            resource_arn=self._args.distribution_arn, opts=edge)
        destination = aws.cloudwatch.LogDeliveryDestination(
            f"{self._name}-cloudfront", name=stack_unique("cloudfront-logs"), output_format="json",
            delivery_destination_configuration={"destination_resource_arn": group.arn}, opts=edge)
        aws.cloudwatch.LogDelivery(f"{self._name}-cloudfront", delivery_source_name=source.name,
                                   delivery_destination_arn=destination.arn, record_fields=list(CLOUDFRONT_FIELDS),
                                   opts=edge)

    def _waf_logs(self, web_acl_arn: pulumi.Input[str]) -> None:
        group = self._group("waf", name=f"{WAF_LOG_PREFIX}{stack_unique('edge')}")
        aws.wafv2.WebAclLoggingConfiguration(
            f"{self._name}-waf", resource_arn=web_acl_arn, log_destination_configs=[group.arn],
            # Prompts and keys travel in headers and bodies: keep the credentials out of the log.
            redacted_fields=[{"single_header": {"name": header}} for header in CREDENTIAL_HEADERS],
            opts=self._child())
