"""Access logs: abuse leaves a trail. The ALB's in an encrypted, private, expiring bucket that ELB may write to;
CloudFront's and the WAF's in CloudWatch Logs in us-east-1, where those services deliver them."""

from __future__ import annotations

import json

from offline.engine import ACCOUNT_ID, Graph

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def bucket_policy(graph: Graph) -> list[dict]:
    return json.loads(graph.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]


def test_the_alb_logs_every_request_to_its_bucket(stack: Graph) -> None:
    balancer = stack.one("aws:lb/loadBalancer:LoadBalancer")
    bucket = stack.one("aws:s3/bucket:Bucket")
    assert balancer.inputs["accessLogs"] == {"bucket": stack.id_of(bucket), "prefix": "alb", "enabled": True}
    assert stack.waits_for(balancer, stack.one("aws:s3/bucketPolicy:BucketPolicy")), \
        "the ALB checks at configuration time that it may write"


def test_the_log_bucket_is_encrypted_private_and_expiring(stack: Graph) -> None:
    """ELB delivers only to SSE-S3 (AES256) buckets, not KMS ones."""
    (rule,) = stack.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
                        ).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    block = stack.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    (lifecycle,) = stack.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    retention = stack.one(LOG_GROUP, "-litellm-logs").inputs["retentionInDays"]
    assert lifecycle["expiration"]["days"] == retention and lifecycle["status"] == "Enabled"
    deny = [s for s in bucket_policy(stack) if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_elb_log_delivery_may_write_the_prefix_in_this_region(stack: Graph) -> None:
    """us-west-1 predates August 2022: ELB writes as the regional account 027434742980 (ELB User Guide); newer
    Regions use the log delivery service principal, which the policy admits too."""
    bucket_arn = stack.one("aws:s3/bucket:Bucket").outputs["arn"]
    allowed = {json.dumps(s["Principal"], sort_keys=True): s for s in bucket_policy(stack) if s["Effect"] == "Allow"}
    expected = [{"AWS": "arn:aws:iam::027434742980:root"},
                {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}]
    assert sorted(allowed) == sorted(json.dumps(p, sort_keys=True) for p in expected)
    for statement in allowed.values():
        assert statement["Action"] == "s3:PutObject"
        assert statement["Resource"] == f"{bucket_arn}/alb/AWSLogs/{ACCOUNT_ID}/*"


def in_us_east_1(graph: Graph, type_: str) -> list:
    found = graph.of_type(type_)
    assert found and all(graph.provider_of(r).inputs["region"] == "us-east-1" for r in found), type_
    return found


def test_cloudfront_standard_logs_reach_a_log_group(stack: Graph) -> None:
    (source,) = in_us_east_1(stack, "aws:cloudwatch/logDeliverySource:LogDeliverySource")
    assert source.inputs["logType"] == "ACCESS_LOGS"
    assert source.inputs["resourceArn"] == stack.one("aws:cloudfront/distribution:Distribution").outputs["arn"]
    (destination,) = in_us_east_1(stack, "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination")
    group = stack.one(LOG_GROUP, "edge-logs-cloudfront")
    assert destination.inputs["deliveryDestinationConfiguration"]["destinationResourceArn"] == group.outputs["arn"]
    assert stack.provider_of(group).inputs["region"] == "us-east-1" and group.inputs["retentionInDays"]
    (delivery,) = in_us_east_1(stack, "aws:cloudwatch/logDelivery:LogDelivery")
    assert (delivery.inputs["deliverySourceName"], delivery.inputs["deliveryDestinationArn"]) == (
        source.outputs["name"], destination.outputs["arn"])
    assert not {"cs(Cookie)", "cs-uri-query"} & set(delivery.inputs["recordFields"]), "no sessions or queries"
    assert group.inputs["name"].startswith("/aws/vendedlogs/"), "kept out of the account's shared log policy"


def test_waf_logs_where_waf_is_on(prod: Graph, dev: Graph) -> None:
    """WAF writes only to log groups named aws-waf-logs-*; credentials are redacted."""
    (logging,) = in_us_east_1(prod, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    assert logging.inputs["resourceArn"] == prod.one("aws:wafv2/webAcl:WebAcl").outputs["arn"]
    (destination,) = logging.inputs["logDestinationConfigs"]
    group = next(g for g in prod.of_type(LOG_GROUP) if g.outputs["arn"] == destination)
    assert group.inputs["name"].startswith("aws-waf-logs-")
    # Every header LiteLLM takes a key from (proxy/auth/user_api_key_auth.py), and Grafana's session cookie.
    assert {f["singleHeader"]["name"] for f in logging.inputs["redactedFields"]} == {
        "authorization", "x-api-key", "api-key", "x-litellm-api-key", "x-goog-api-key", "ocp-apim-subscription-key",
        "cookie"}
    assert not dev.of_type("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
