"""A corpus of resources each policy must catch (different shapes of the same risk) and near misses it must pass,
as the engine hands them over (camelCase props). Stack policies get small stacks: (urn, type, props, deps)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from offline.engine import ACCOUNT_ID

HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
PROFILE = f"arn:aws:bedrock:us-west-1:{ACCOUNT_ID}:inference-profile/us.{HAIKU}"
FOUNDATION = f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"
TAGS = {"Project": "p", "Environment": "e", "Owner": "o", "CostCenter": "c", "ManagedBy": "m"}


@dataclass(frozen=True)
class Probe:
    policy: str
    name: str
    type: str
    props: dict[str, Any]
    # Without the provider (and its default tags): the resource's own tags are all it has.
    provider: bool = True


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def role_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"policy": document(*statements)}


def egress(protocol: str, low: int, high: int, **peer: Any) -> dict[str, Any]:
    return {"ipProtocol": protocol, "fromPort": low, "toPort": high, **peer}


def task(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"containerDefinitions": json.dumps([{"name": "app", "image": "x", **c} for c in containers])}


def env(name: str, value: str) -> dict[str, Any]:
    return {"environment": [{"name": name, "value": value}]}


RP, UP, GP = "aws:iam/rolePolicy:RolePolicy", "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy"
ROLE, ATTACH = "aws:iam/role:Role", "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SG, DEFAULT_SG = "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
EGRESS, INGRESS = ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
                   "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
LEGACY = "aws:ec2/securityGroupRule:SecurityGroupRule"
TASKDEF, DIST = "aws:ecs/taskDefinition:TaskDefinition", "aws:cloudfront/distribution:Distribution"
SECURE_VIEWERS = {"defaultCacheBehavior": {"viewerProtocolPolicy": "redirect-to-https"},
                  "viewerCertificate": {"cloudfrontDefaultCertificate": True}}
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
GOOD_CACHE = {"engine": "valkey", "transitEncryptionEnabled": True, "transitEncryptionMode": "required",
              "atRestEncryptionEnabled": True, "authToken": "0123456789abcdefghij"}
TRUST_ECS = document({"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                      "Action": "sts:AssumeRole"})

BAD = [
    # tags
    Probe("required-tags", "untagged-bucket", "aws:s3/bucket:Bucket", {"bucket": "b"}, provider=False),
    Probe("required-tags", "blank-owner", "aws:sns/topic:Topic", {"tags": {**TAGS, "Owner": " "}}, provider=False),
    Probe("required-tags", "asg-without-list", "aws:autoscaling/group:Group", {"tags": []}),
    # A service whose Python module is renamed (a keyword): pulumi_aws.lambda_.
    Probe("required-tags", "untagged-lambda", "aws:lambda/function:Function", {"role": "r"}, provider=False),
    Probe("required-tags", "untagged-lambda-capacity-provider", "aws:lambda/capacityProvider:CapacityProvider", {},
          provider=False),
    # egress
    Probe("egress-https-only", "all-traffic", EGRESS, egress("-1", 0, 0, cidrIpv4="0.0.0.0/0")),
    Probe("egress-https-only", "http-out", EGRESS, egress("tcp", 80, 80, cidrIpv4="0.0.0.0/0")),
    Probe("egress-https-only", "ipv6-all-ports", EGRESS, egress("tcp", 0, 65535, cidrIpv6="::/0")),
    Probe("egress-https-only", "dns-to-public", EGRESS, egress("udp", 53, 53, cidrIpv4="8.8.8.8/32")),
    Probe("egress-https-only", "inline-all", SG, {"egress": [
        {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]}),
    Probe("egress-https-only", "default-group-all", DEFAULT_SG, {"egress": [
        {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]}),
    Probe("egress-https-only", "prefix-list-all", EGRESS, egress("-1", 0, 0, prefixListId="pl-0custom")),
    Probe("egress-https-only", "legacy-egress", LEGACY, {"type": "egress", "protocol": "tcp", "fromPort": 22,
                                                         "toPort": 22, "cidrBlocks": ["0.0.0.0/1"]}),
    # ECS
    Probe("ecs-no-public-ip", "public-service", "aws:ecs/service:Service",
          {"networkConfiguration": {"assignPublicIp": True}}),
    Probe("ecs-no-public-ip", "public-service-text", "aws:ecs/service:Service",
          {"networkConfiguration": {"assignPublicIp": "true"}}),
    Probe("ecs-no-public-ip", "public-task-set", "aws:ecs/taskSet:TaskSet",
          {"networkConfiguration": {"assignPublicIp": "ENABLED"}}),
    # IAM and Bedrock
    Probe("bedrock-invoke-only", "star", RP, role_policy(allow("*", "*"))),
    Probe("bedrock-invoke-only", "not-action", RP, role_policy({"Effect": "Allow", "NotAction": "iam:*",
                                                                "Resource": "*"})),
    Probe("bedrock-invoke-only", "question-mark", RP, role_policy(allow("s3:Get?bject", "arn:aws:s3:::b/*"))),
    Probe("bedrock-invoke-only", "bedrock-star-user", UP, role_policy(allow("bedrock:*", "*"))),
    Probe("bedrock-invoke-only", "customization", GP, role_policy(
        allow("bedrock:CreateModelCustomizationJob", PROFILE))),
    # Named actions the old sample of the catalogue lacked, one newer than any catalogue, and a pattern.
    *(Probe("bedrock-invoke-only", f"named-{action.lower()}", RP, role_policy(allow(f"bedrock:{action}", PROFILE)))
      for action in ("DeleteModelInvocationLoggingConfiguration", "StartAsyncInvoke", "PutUseCaseForModelAccess",
                     "CreateFoundationModelAgreement", "InvokeModelWithBidirectionalStream", "CallWithBearerToken")),
    Probe("bedrock-invoke-only", "pattern-reaching-agreements", RP, role_policy(allow("bedrock:*Agreement", PROFILE))),
    Probe("bedrock-invoke-only", "not-action-in-bedrock", RP, role_policy({"Effect": "Allow", "NotAction": [
        "bedrock:InvokeModel"], "Resource": PROFILE})),
    # Documents as objects (PolicyDocumentArgs or a dict), as the Python SDK takes them.
    Probe("bedrock-invoke-only", "object-star", RP, {"policy": {"Version": "2012-10-17",
                                                                "Statement": [allow("*", "*")]}}),
    Probe("bedrock-invoke-only", "object-single-statement", "aws:iam/policy:Policy", {"policy": {
        "Version": "2012-10-17", "Statement": allow("bedrock:Get*", "*")}}),
    Probe("bedrock-invoke-only", "object-inline-on-role", ROLE, {"assumeRolePolicy": TRUST_ECS, "inlinePolicies": [
        {"name": "x", "policy": {"Version": "2012-10-17", "Statement": [allow("bedrock:InvokeModel", "*")]}}]}),
    Probe("bedrock-invoke-only", "object-open-trust", ROLE, {"assumeRolePolicy": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                "Action": "sts:AssumeRole"}]}}),
    Probe("bedrock-invoke-only", "object-open-trust-string-principal", ROLE, {"assumeRolePolicy": {
        "Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}}}),
    Probe("bedrock-invoke-only", "invoke-anything", RP, role_policy(allow("bedrock:InvokeModel", "*"))),
    Probe("bedrock-invoke-only", "invoke-llama", RP, role_policy(allow(
        "bedrock:InvokeModel", "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-70b-instruct-v1:0"))),
    *(Probe("bedrock-invoke-only", f"profile-in-{name}-region", RP, role_policy(allow(
        "bedrock:InvokeModel", PROFILE.replace(":us-west-1:", f":{region}:"))))
      for name, region in (("every", "*"), ("no", ""))),
    Probe("bedrock-invoke-only", "other-account-profile", RP, role_policy(allow(
        "bedrock:InvokeModel", PROFILE.replace(ACCOUNT_ID, "999999999999")))),
    Probe("bedrock-invoke-only", "not-resource", RP, role_policy({"Effect": "Allow", "Action": "bedrock:InvokeModel",
                                                                  "NotResource": PROFILE})),
    Probe("bedrock-invoke-only", "admin-attached", ATTACH, {
        "role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    Probe("bedrock-invoke-only", "bedrock-full-attached", ATTACH, {
        "role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonBedrockFullAccess"}),
    Probe("bedrock-invoke-only", "managed-arns", ROLE, {"assumeRolePolicy": TRUST_ECS, "managedPolicyArns": [
        "arn:aws:iam::aws:policy/PowerUserAccess"]}),
    Probe("bedrock-invoke-only", "inline-on-role", ROLE, {"assumeRolePolicy": TRUST_ECS, "inlinePolicies": [
        {"name": "x", "policy": document(allow(["bedrock:Invoke*"], PROFILE))}]}),
    Probe("bedrock-invoke-only", "open-trust", ROLE, {"assumeRolePolicy": document(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})}),
    # databases, volumes
    Probe("rds-encrypted-private-backed-up", "public-db", "aws:rds/instance:Instance",
          {"storageEncrypted": True, "publiclyAccessible": True, "backupRetentionPeriod": 7}),
    Probe("rds-encrypted-private-backed-up", "plain-db", "aws:rds/instance:Instance",
          {"storageEncrypted": False, "backupRetentionPeriod": 7}),
    Probe("rds-encrypted-private-backed-up", "no-backups", "aws:rds/cluster:Cluster",
          {"storageEncrypted": True, "backupRetentionPeriod": 0}),
    Probe("rds-encrypted-private-backed-up", "public-aurora", "aws:rds/clusterInstance:ClusterInstance",
          {"publiclyAccessible": True, "engine": "aurora-postgresql"}),
    Probe("cache-encrypted-authenticated", "plain-cache", CACHE, {**GOOD_CACHE, "transitEncryptionEnabled": False}),
    Probe("cache-encrypted-authenticated", "preferred-tls", CACHE,
          {**GOOD_CACHE, "transitEncryptionMode": "preferred"}),
    Probe("cache-encrypted-authenticated", "no-auth", CACHE, {**GOOD_CACHE, "authToken": None}),
    Probe("cache-encrypted-authenticated", "clear-at-rest", CACHE, {**GOOD_CACHE, "atRestEncryptionEnabled": False}),
    # Unset is off for Redis OSS, named or (the default engine) not.
    Probe("cache-encrypted-authenticated", "redis-at-rest-unset", CACHE, {
        **{k: v for k, v in GOOD_CACHE.items() if k != "atRestEncryptionEnabled"}, "engine": "redis"}),
    Probe("cache-encrypted-authenticated", "default-engine-at-rest-unset", CACHE, {
        k: v for k, v in GOOD_CACHE.items() if k not in ("atRestEncryptionEnabled", "engine")}),
    Probe("efs-encrypted", "plain-efs", "aws:efs/fileSystem:FileSystem", {"encrypted": False}),
    Probe("efs-encrypted", "unset-efs", "aws:efs/fileSystem:FileSystem", {}),
    Probe("efs-encrypted", "text-efs", "aws:efs/fileSystem:FileSystem", {"encrypted": "false"}),
    # viewers and origins
    Probe("cloudfront-https-viewers", "allow-all", DIST, {**SECURE_VIEWERS, "defaultCacheBehavior": {
        "viewerProtocolPolicy": "allow-all"}}),
    Probe("cloudfront-https-viewers", "old-tls", DIST, {**SECURE_VIEWERS, "viewerCertificate": {
        "acmCertificateArn": "arn", "minimumProtocolVersion": "TLSv1"}}),
    Probe("cloudfront-https-viewers", "http-origin", DIST, {**SECURE_VIEWERS, "origins": [
        {"originId": "alb", "customOriginConfig": {"originProtocolPolicy": "http-only"}}]}),
    Probe("cloudfront-https-viewers", "allow-all-path", DIST, {**SECURE_VIEWERS, "orderedCacheBehaviors": [
        {"pathPattern": "/x/*", "viewerProtocolPolicy": "allow-all"}]}),
    # ingress
    Probe("ingress-not-open-to-world", "world", INGRESS, egress("tcp", 80, 80, cidrIpv4="0.0.0.0/0")),
    Probe("ingress-not-open-to-world", "four-ninths-inline", SG, {"ingress": [
        {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": [cidr]}
        for cidr in ("1.0.0.0/9", "20.0.0.0/9", "40.0.0.0/9", "60.0.0.0/9")]}),
    Probe("ingress-not-open-to-world", "ipv6-registry-block", INGRESS, egress("tcp", 443, 443, cidrIpv6="2600::/12")),
    Probe("ingress-not-open-to-world", "protocol-number-all-ports", SG, {"ingress": [
        {"protocol": "6", "fromPort": 0, "toPort": 65535, "cidrBlocks": ["0.0.0.0/0"]}]}),
    Probe("ingress-not-open-to-world", "half-world", INGRESS, egress("tcp", 22, 22, cidrIpv4="0.0.0.0/1")),
    Probe("ingress-not-open-to-world", "world-v6", INGRESS, egress("tcp", 443, 443, cidrIpv6="::/0")),
    Probe("ingress-not-open-to-world", "legacy-ingress", LEGACY, {"type": "ingress", "protocol": "tcp",
                                                                  "fromPort": 22, "toPort": 22,
                                                                  "cidrBlocks": ["0.0.0.0/0"]}),
    Probe("ingress-not-open-to-world", "halves-together", SG, {"ingress": [
        {"protocol": "tcp", "fromPort": 80, "toPort": 80, "cidrBlocks": ["0.0.0.0/1", "128.0.0.0/1"]}]}),
    Probe("ingress-not-open-to-world", "default-group-open", DEFAULT_SG, {"ingress": [
        {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]}),
    # logs, images, secrets, metadata
    Probe("log-group-retention", "forever", "aws:cloudwatch/logGroup:LogGroup", {}),
    Probe("log-group-retention", "zero", "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 0}),
    Probe("log-group-retention", "named-forever", "aws:cloudwatch/logGroup:LogGroup", {"name": "/app"}),
    Probe("ecr-scan-immutable", "mutable", "aws:ecr/repository:Repository",
          {"imageTagMutability": "MUTABLE", "imageScanningConfiguration": {"scanOnPush": True}}),
    Probe("ecr-scan-immutable", "unscanned", "aws:ecr/repository:Repository", {"imageTagMutability": "IMMUTABLE"}),
    Probe("ecr-scan-immutable", "mutable-with-exclusion", "aws:ecr/repository:Repository", {
        "imageTagMutability": "MUTABLE_WITH_EXCLUSION", "imageScanningConfiguration": {"scanOnPush": True}}),
    Probe("no-plain-secrets-in-env", "api-key-env", TASKDEF, task(env("API_KEY", "sk-live-123"))),
    Probe("no-plain-secrets-in-env", "database-url", TASKDEF, task(env(
        "DATABASE_URL", "postgresql://user:password@db:5432/app"))),
    Probe("no-plain-secrets-in-env", "master-key-flag", TASKDEF, task({"command": [
        "--port", "4000", "--master_key", "sk-1234567890abcdef"]})),
    Probe("no-plain-secrets-in-env", "aws-key-anywhere", TASKDEF, task(env("CONFIG", "AKIAIOSFODNN7EXAMPLE"))),
    # Shapes a name list missed: flag=value, a shell's inline assignment, a health check's header, *_PASS, a
    # webhook's token, a temporary (ASIA) key.
    Probe("no-plain-secrets-in-env", "flag-equals-password", TASKDEF, task({"command": [
        "migrate", "--db-password=Zq8xV2mN4pL7c"]})),
    Probe("no-plain-secrets-in-env", "shell-inline-assignment", TASKDEF, task({"entryPoint": ["sh", "-c"], "command": [
        "X_PASSWORD=s3cr3tV4lue9 exec /app/run"]})),
    Probe("no-plain-secrets-in-env", "bearer-in-health-check", TASKDEF, task({"healthCheck": {"command": [
        "CMD", "curl", "-fH", "Authorization: Bearer 9f8e7d6c5b4a3f2e1d0c", "http://localhost:4000/health"]}})),
    Probe("no-plain-secrets-in-env", "pass-suffix", TASKDEF, task(env("DB_PASS", "Zq8xV2mN4pL7"))),
    Probe("no-plain-secrets-in-env", "webhook-token", TASKDEF, task(env(
        "ALERT_WEBHOOK", "https://alerts.example.com/hook?token=9f8e7d6c5b4a3f2e1d0c"))),
    # Names detect-secrets' keywords do not know (token, a bare key, credentials), and flags with a space.
    Probe("no-plain-secrets-in-env", "auth-token", TASKDEF, task(env("AUTH_TOKEN", "9f8e7d6c5b4a3f2e"))),
    Probe("no-plain-secrets-in-env", "master-key-without-prefix", TASKDEF, task(env("LITELLM_MASTER_KEY",
                                                                                   "Zq8xV2mN4pL7abc"))),
    Probe("no-plain-secrets-in-env", "credentials", TASKDEF, task(env("CREDENTIALS", "user:Zq8xV2mN4pL7"))),
    Probe("no-plain-secrets-in-env", "token-flag-with-space", TASKDEF, task({"command": [
        "serve", "--token", "9f8e7d6c5b4a3f2e"]})),
    Probe("no-plain-secrets-in-env", "master-key-flag-underscore", TASKDEF, task({"command": [
        "--master_key", "Zq8xV2mN4pL7abc"]})),
    Probe("no-plain-secrets-in-env", "temporary-aws-key", TASKDEF, task(env("AWS_ACCESS_KEY_ID",
                                                                          "ASIAIOSFODNN7EXAMPLE"))),
    Probe("imdsv2-required", "optional-tokens", "aws:ec2/launchTemplate:LaunchTemplate",
          {"metadataOptions": {"httpTokens": "optional"}}),
    Probe("imdsv2-required", "no-options", "aws:ec2/instance:Instance", {}),
    Probe("imdsv2-required", "instance-optional", "aws:ec2/instance:Instance",
          {"metadataOptions": {"httpTokens": "optional"}}),
    # resource policies, public access blocks, Lambda permissions
    Probe("no-public-resource-access", "bucket-policy-for-anyone", "aws:s3/bucketPolicy:BucketPolicy", {
        "bucket": "b", "policy": document({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                           "Resource": "arn:aws:s3:::b/*"})}),
    Probe("no-public-resource-access", "topic-policy-aws-star-object", "aws:sns/topic:Topic", {"policy": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]},
                                                "Action": "sns:Publish", "Resource": "*"}]}}),
    Probe("no-public-resource-access", "secret-for-anyone", "aws:secretsmanager/secretPolicy:SecretPolicy", {
        "secretArn": "arn", "policy": document({"Effect": "Allow", "Principal": {"AWS": "*"},
                                                "Action": "secretsmanager:GetSecretValue", "Resource": "*"})}),
    *(Probe("no-public-resource-access", f"anyone-{type_.split(':')[2].lower()}", type_, {"policy": document(
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"})})
      for type_ in ("aws:sns/topicPolicy:TopicPolicy", "aws:sqs/queuePolicy:QueuePolicy",
                    "aws:ecr/repositoryPolicy:RepositoryPolicy", "aws:secretsmanager/secret:Secret")),
    Probe("no-public-resource-access", "bucket-inline-policy-object", "aws:s3/bucket:Bucket", {"policy": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
                                                "Resource": "arn:aws:s3:::b/*"}]}}),
    Probe("no-public-resource-access", "bucket-public-read-acl", "aws:s3/bucket:Bucket", {"acl": "public-read"}),
    Probe("no-public-resource-access", "anyone-over-tls-only", "aws:s3/bucketPolicy:BucketPolicy", {
        "bucket": "b", "policy": document({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                           "Resource": "arn:aws:s3:::b/*",
                                           "Condition": {"Bool": {"aws:SecureTransport": "true"}}})}),
    Probe("no-public-resource-access", "lambda-for-a-service-anywhere", "aws:lambda/permission:Permission",
          {"action": "lambda:InvokeFunction", "function": "f", "principal": "s3.amazonaws.com"}),
    Probe("no-public-resource-access", "public-access-block-half-off",
          "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
          {"bucket": "b", "blockPublicAcls": True, "ignorePublicAcls": True}),
    Probe("no-public-resource-access", "lambda-for-everyone", "aws:lambda/permission:Permission",
          {"action": "lambda:InvokeFunction", "function": "f", "principal": "*"}),
    # privileged tasks
    Probe("ecs-tasks-unprivileged", "privileged", TASKDEF, task({"privileged": True})),
    Probe("ecs-tasks-unprivileged", "host-network", TASKDEF, {**task({}), "networkMode": "host"}),
    Probe("ecs-tasks-unprivileged", "host-pid", TASKDEF, {**task({}), "pidMode": "host"}),
    Probe("ecs-tasks-unprivileged", "added-capability", TASKDEF, task(
        {"linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}}})),
    Probe("ecs-tasks-unprivileged", "one-of-two-privileged", TASKDEF, {"containerDefinitions": json.dumps([
        {"name": "app", "image": "x"}, {"name": "sidecar", "image": "y", "privileged": True}])}),
    # the default certificate
    Probe("cloudfront-default-certificate", "default-certificate", DIST, SECURE_VIEWERS),
    Probe("cloudfront-default-certificate", "default-certificate-ordered", DIST, {
        **SECURE_VIEWERS, "orderedCacheBehaviors": [{"pathPattern": "/v1/*", "viewerProtocolPolicy": "https-only"}]}),
    Probe("cloudfront-default-certificate", "default-certificate-and-old-minimum", DIST, {
        **SECURE_VIEWERS, "viewerCertificate": {"cloudfrontDefaultCertificate": True,
                                                "minimumProtocolVersion": "TLSv1.2_2021"}}),
    # coverage
    Probe("resource-coverage", "queue", "aws:sqs/queue:Queue", {}),
    Probe("resource-coverage", "user", "aws:iam/user:User", {}),
    Probe("resource-coverage", "api", "aws:apigateway/restApi:RestApi", {}),
]

GOOD = [
    Probe("required-tags", "provider-tags", "aws:s3/bucket:Bucket", {"bucket": "b"}),
    Probe("required-tags", "own-tags", "aws:sns/topic:Topic", {"tags": TAGS}, provider=False),
    Probe("required-tags", "lambda-with-provider-tags", "aws:lambda/function:Function", {"role": "r"}),
    Probe("egress-https-only", "https-out", EGRESS, egress("tcp", 443, 443, cidrIpv4="0.0.0.0/0")),
    Probe("egress-https-only", "https-out-by-number", EGRESS, egress("6", 443, 443, cidrIpv4="0.0.0.0/0")),
    Probe("egress-https-only", "https-prefix-list", EGRESS, egress("tcp", 443, 443, prefixListId="pl-0s3")),
    Probe("egress-https-only", "postgres-to-group", EGRESS, egress("tcp", 5432, 5432,
                                                                   referencedSecurityGroupId="sg-1")),
    Probe("egress-https-only", "private-range", EGRESS, egress("tcp", 4000, 4000, cidrIpv4="10.10.128.0/20")),
    Probe("egress-https-only", "emptied-default", DEFAULT_SG, {}),
    Probe("ecs-no-public-ip", "private-service", "aws:ecs/service:Service",
          {"networkConfiguration": {"assignPublicIp": False}}),
    Probe("ecs-no-public-ip", "no-network-block", "aws:ecs/service:Service", {}),
    Probe("bedrock-invoke-only", "scoped-invoke", RP, role_policy(
        allow(["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"], [PROFILE]),
        allow(["bedrock:InvokeModel"], [FOUNDATION], Condition={"ArnEquals": {"bedrock:InferenceProfileArn": PROFILE}}),
        allow(["bedrock:CountTokens"], [FOUNDATION]))),
    Probe("bedrock-invoke-only", "ecr-login", RP, role_policy(allow(["ecr:GetAuthorizationToken"], ["*"]))),
    Probe("bedrock-invoke-only", "deny-everything-else", RP, role_policy(
        {"Effect": "Deny", "NotAction": "bedrock:InvokeModel", "Resource": "*"})),
    Probe("bedrock-invoke-only", "ssm-attached", ATTACH, {
        "role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}),
    Probe("bedrock-invoke-only", "service-trust", ROLE, {"assumeRolePolicy": TRUST_ECS}),
    Probe("bedrock-invoke-only", "object-scoped-invoke", RP, {"policy": {"Version": "2012-10-17", "Statement": [
        allow(["bedrock:InvokeModel", "bedrock:CountTokens"], [PROFILE])]}}),
    Probe("bedrock-invoke-only", "object-service-trust", ROLE, {"assumeRolePolicy": json.loads(TRUST_ECS)}),
    Probe("rds-encrypted-private-backed-up", "good-db", "aws:rds/instance:Instance",
          {"storageEncrypted": True, "publiclyAccessible": False, "backupRetentionPeriod": 7}),
    Probe("rds-encrypted-private-backed-up", "private-aurora", "aws:rds/clusterInstance:ClusterInstance",
          {"publiclyAccessible": False}),
    Probe("rds-encrypted-private-backed-up", "cross-region-replica-with-key", "aws:rds/instance:Instance",
          {"replicateSourceDb": "arn:aws:rds:us-east-1:123456789012:db:gw", "kmsKeyId": "arn:aws:kms:x"}),
    Probe("rds-encrypted-private-backed-up", "encrypted-read-replica", "aws:rds/instance:Instance",
          {"storageEncrypted": True, "replicateSourceDb": "gw-db", "backupRetentionPeriod": 0}),
    Probe("cache-encrypted-authenticated", "good-cache", CACHE, GOOD_CACHE),
    Probe("cache-encrypted-authenticated", "valkey-at-rest-by-default", CACHE,
          {k: v for k, v in GOOD_CACHE.items() if k != "atRestEncryptionEnabled"}),
    Probe("cache-encrypted-authenticated", "rbac-cache", CACHE, {**GOOD_CACHE, "authToken": None,
                                                                "userGroupIds": ["gateway-users"]}),
    Probe("efs-encrypted", "encrypted-efs", "aws:efs/fileSystem:FileSystem", {"encrypted": True}),
    Probe("efs-encrypted", "not-efs", "aws:efs/accessPoint:AccessPoint", {}),
    Probe("cloudfront-https-viewers", "vpc-origin", DIST, {**SECURE_VIEWERS, "origins": [
        {"originId": "alb", "vpcOriginConfig": {"vpcOriginId": "vo-1"}}]}),
    Probe("cloudfront-https-viewers", "https-origin", DIST, {**SECURE_VIEWERS, "origins": [
        {"originId": "alb", "customOriginConfig": {"originProtocolPolicy": "https-only"}}]}),
    Probe("ingress-not-open-to-world", "cloudfront-list", INGRESS, egress("tcp", 80, 80, prefixListId="pl-cf")),
    Probe("ingress-not-open-to-world", "office", INGRESS, egress("tcp", 443, 443, cidrIpv4="203.0.113.0/24")),
    Probe("ingress-not-open-to-world", "office-v6-site", INGRESS, egress("tcp", 443, 443, cidrIpv6="2001:db8:1::/48")),
    Probe("ingress-not-open-to-world", "ninths-on-different-ports", SG, {"ingress": [
        {"protocol": "tcp", "fromPort": port, "toPort": port, "cidrBlocks": [cidr]}
        for port, cidr in ((443, "1.0.0.0/9"), (8443, "20.0.0.0/9"), (22, "40.0.0.0/9"), (80, "60.0.0.0/9"))]}),
    Probe("ingress-not-open-to-world", "rfc1918", INGRESS, egress("tcp", 443, 443, cidrIpv4="10.0.0.0/8")),
    Probe("log-group-retention", "thirty-days", "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 30}),
    Probe("log-group-retention", "not-a-group", "aws:cloudwatch/logStream:LogStream", {}),
    Probe("ecr-scan-immutable", "immutable", "aws:ecr/repository:Repository",
          {"imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": {"scanOnPush": True}}),
    Probe("ecr-scan-immutable", "immutable-with-exclusion", "aws:ecr/repository:Repository", {
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION", "imageScanningConfiguration": {"scanOnPush": True}}),
    Probe("no-plain-secrets-in-env", "secret-ref", TASKDEF, task({"secrets": [{"name": "API_KEY",
                                                                                  "valueFrom": "arn"}]})),
    Probe("no-plain-secrets-in-env", "references-to-secrets", TASKDEF, task({"environment": [
        {"name": "DB_PASSWORD_SECRET_ARN", "value": "arn:aws:secretsmanager:us-west-1:123456789012:secret:db"},
        {"name": "SECRET_NAME", "value": "llm-gateway/master-key"},
        {"name": "API_KEY_HEADER", "value": "x-api-key"}, {"name": "PASSWORD_REQUIRED", "value": "true"},
        {"name": "ANTHROPIC_API_KEY", "value": "os.environ/ANTHROPIC_API_KEY"},
        {"name": "GF_AUTH_ANONYMOUS_ORG_ROLE", "value": "Viewer"}, {"name": "TOKEN_TTL", "value": "3600s"}]})),
    Probe("no-plain-secrets-in-env", "counts-and-secret-files", TASKDEF, task(
        env("MAX_TOKENS", "4096"), {"command": ["--api-key-file", "/run/secrets/api-key", "--token-limit", "8000"]})),
    # Container definitions as the upstream projects document them (Grafana's docker docs, VictoriaMetrics' flags,
    # LiteLLM's compose file and config references).
    Probe("no-plain-secrets-in-env", "upstream-examples", TASKDEF, task(
        {"environment": [{"name": "GF_SECURITY_ADMIN_PASSWORD__FILE", "value": "/run/secrets/admin_password"},
                         {"name": "GF_AUTH_ANONYMOUS_ENABLED", "value": "false"},
                         {"name": "GF_SERVER_ROOT_URL", "value": "https://gw.example.com/grafana/"},
                         {"name": "STORE_MODEL_IN_DB", "value": "True"},
                         {"name": "LITELLM_MASTER_KEY", "value": "os.environ/LITELLM_MASTER_KEY"},
                         {"name": "DATABASE_URL", "value": "postgresql://llmproxy:${POSTGRES_PASSWORD}@db:5432/litellm"}],
         "command": ["-retentionPeriod=90d", "-storageDataPath=/storage", "-search.maxUniqueTimeseries=300000"]})),
    Probe("no-plain-secrets-in-env", "flags-and-hosts", TASKDEF, task(
        env("DISABLE_SCHEMA_UPDATE", "true"), {"command": ["--port", "4000", "--num_workers", "1"]},
        {"environment": [{"name": "DATABASE_HOST", "value": "db.internal:5432"},
                         {"name": "LITELLM_HOST", "value": "http://litellm:4000"}]})),
    Probe("imdsv2-required", "required", "aws:ec2/launchTemplate:LaunchTemplate",
          {"metadataOptions": {"httpTokens": "required"}}),
    Probe("imdsv2-required", "instance-required", "aws:ec2/instance:Instance",
          {"metadataOptions": {"httpTokens": "required"}}),
    Probe("imdsv2-required", "metadata-off", "aws:ec2/launchTemplate:LaunchTemplate",
          {"metadataOptions": {"httpEndpoint": "disabled", "httpTokens": "optional"}}),
    Probe("resource-coverage", "vpc", "aws:ec2/vpc:Vpc", {}),
    Probe("no-public-resource-access", "log-delivery-bucket-policy", "aws:s3/bucketPolicy:BucketPolicy", {
        "bucket": "b", "policy": document({"Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"},
                                           "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"})}),
    Probe("no-public-resource-access", "anyone-in-the-org", "aws:sns/topicPolicy:TopicPolicy", {
        "arn": "t", "policy": document({"Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": "*",
                                        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-123"}}})}),
    Probe("no-public-resource-access", "public-access-blocked",
          "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {"bucket": "b", **dict.fromkeys((
              "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)}),
    Probe("no-public-resource-access", "eventbridge-invokes-lambda", "aws:lambda/permission:Permission", {
        "action": "lambda:InvokeFunction", "function": "f", "principal": "events.amazonaws.com", "sourceArn": "arn"}),
    Probe("ecs-tasks-unprivileged", "awsvpc-task", TASKDEF, {**task({}), "networkMode": "awsvpc"}),
    Probe("ecs-tasks-unprivileged", "explicitly-unprivileged", TASKDEF, task({"privileged": False})),
    Probe("cloudfront-default-certificate", "own-certificate", DIST, {
        "defaultCacheBehavior": {"viewerProtocolPolicy": "redirect-to-https"},
        "viewerCertificate": {"acmCertificateArn": "arn", "minimumProtocolVersion": "TLSv1.2_2021"}}),
    Probe("cloudfront-default-certificate", "not-a-distribution", "aws:cloudfront/function:Function", {}),
    Probe("resource-coverage", "not-aws", "random:index/randomPassword:RandomPassword", {}),
]


DOMAINS = "aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList"
FIREWALL_RULE = "aws:route53/resolverFirewallRule:ResolverFirewallRule"
FIREWALL_ASSOCIATION = "aws:route53/resolverFirewallRuleGroupAssociation:ResolverFirewallRuleGroupAssociation"


@dataclass(frozen=True)
class StackProbe:
    policy: str
    name: str
    # (name, type, props, {input key: [names of the resources it depends on]})
    resources: list[tuple[str, str, dict[str, Any], dict[str, list[str]]]] = field(default_factory=list)


def _private_network(route: dict[str, Any], route_deps: dict[str, list[str]], tier: str = "private") -> list:
    return [("subnet", "aws:ec2/subnet:Subnet", {"tags": {"Tier": tier}}, {}),
            ("table", "aws:ec2/routeTable:RouteTable", {}, {}),
            ("igw", "aws:ec2/internetGateway:InternetGateway", {}, {}),
            ("eni", "aws:ec2/networkInterface:NetworkInterface", {"sourceDestCheck": False}, {}),
            ("assoc", "aws:ec2/routeTableAssociation:RouteTableAssociation", {},
             {"subnetId": ["subnet"], "routeTableId": ["table"]}),
            ("route", "aws:ec2/route:Route", {"destinationCidrBlock": "0.0.0.0/0", **route},
             {"routeTableId": ["table"], **route_deps})]


def _nat(rule_type: str, props: dict[str, Any]) -> list:
    return [("nat-sg", SG, {}, {}),
            ("eni", "aws:ec2/networkInterface:NetworkInterface", {"sourceDestCheck": False},
             {"securityGroups": ["nat-sg"]}),
            ("rule", rule_type, props, {"securityGroupId": ["nat-sg"]})]


def _nat_instance(rule_props: dict[str, Any]) -> list:
    """The static ENI's group and the launch template's (primary interface) group, a rule on the latter."""
    return [("nat-sg", SG, {}, {}), ("primary-sg", SG, {}, {}),
            ("eni", "aws:ec2/networkInterface:NetworkInterface", {"sourceDestCheck": False},
             {"securityGroups": ["nat-sg"]}),
            ("template", "aws:ec2/launchTemplate:LaunchTemplate", {"userData": "ZW5pX2lk"},
             {"userData": ["eni"], "networkInterfaces": ["primary-sg"]}),
            ("rule", INGRESS, rule_props, {"securityGroupId": ["primary-sg"]})]


def _group_rules(*rules: tuple[str, dict[str, Any]]) -> list:
    """A security group and ingress rules as separate resources (vpc or legacy shape) that follow it."""
    return [("group", SG, {}, {}), *((f"rule-{n}", type_, props, {"securityGroupId": ["group"]})
                                     for n, (type_, props) in enumerate(rules))]


def _legacy_ingress(cidr: str, port: int = 443) -> tuple[str, dict[str, Any]]:
    return LEGACY, {"type": "ingress", "protocol": "tcp", "fromPort": port, "toPort": port, "cidrBlocks": [cidr]}


def _main_table_network(route: dict[str, Any], route_deps: dict[str, list[str]]) -> list:
    """A private subnet with no association of its own: it routes by the VPC's main table."""
    return [("vpc", "aws:ec2/vpc:Vpc", {}, {}),
            ("subnet", "aws:ec2/subnet:Subnet", {"tags": {"Tier": "private"}}, {"vpcId": ["vpc"]}),
            ("igw", "aws:ec2/internetGateway:InternetGateway", {}, {}),
            ("eni", "aws:ec2/networkInterface:NetworkInterface", {"sourceDestCheck": False}, {}),
            ("route", "aws:ec2/route:Route", {"destinationCidrBlock": "0.0.0.0/0", **route},
             {"routeTableId": ["vpc"], **route_deps})]


def _firewalled(allowed: list[str], *, block: str = "BLOCK", fail_open: str | None = None,
                endpoint: dict[str, Any] | None = None, firewall_vpc: str = "vpc", allow: str = "ALLOW",
                block_types: dict[str, str] | None = None) -> list:
    """A VPC whose private subnet routes out through a NAT interface, a DNS Firewall rule group (an allow list, then
    `block` on everything) associated with `firewall_vpc`, and optionally its fail mode and a Bedrock endpoint."""
    return [("vpc", "aws:ec2/vpc:Vpc", {}, {}), ("other-vpc", "aws:ec2/vpc:Vpc", {}, {}),
            ("subnet", "aws:ec2/subnet:Subnet", {"tags": {"Tier": "private"}}, {"vpcId": ["vpc"]}),
            ("table", "aws:ec2/routeTable:RouteTable", {}, {"vpcId": ["vpc"]}),
            ("assoc", "aws:ec2/routeTableAssociation:RouteTableAssociation", {},
             {"subnetId": ["subnet"], "routeTableId": ["table"]}),
            ("eni", "aws:ec2/networkInterface:NetworkInterface", {"sourceDestCheck": False}, {}),
            ("route", "aws:ec2/route:Route", {"destinationCidrBlock": "0.0.0.0/0"},
             {"routeTableId": ["table"], "networkInterfaceId": ["eni"]}),
            ("allowed", DOMAINS, {"domains": allowed}, {}), ("everything", DOMAINS, {"domains": ["*"]}, {}),
            ("group", "aws:route53/resolverFirewallRuleGroup:ResolverFirewallRuleGroup", {}, {}),
            ("allow", FIREWALL_RULE, {"action": allow, "priority": 100},
             {"firewallRuleGroupId": ["group"], "firewallDomainListId": ["allowed"]}),
            ("block", FIREWALL_RULE, {"action": block, "priority": 200, "blockResponse": "NXDOMAIN",
                                      **(block_types or {})},
             {"firewallRuleGroupId": ["group"], "firewallDomainListId": ["everything"]}),
            ("association", FIREWALL_ASSOCIATION, {"priority": 1000},
             {"vpcId": [firewall_vpc], "firewallRuleGroupId": ["group"]}),
            *([("config", "aws:route53/resolverFirewallConfig:ResolverFirewallConfig",
                {"firewallFailOpen": fail_open}, {"resourceId": ["vpc"]})] if fail_open else []),
            *([("bedrock", "aws:ec2/vpcEndpoint:VpcEndpoint", {
                "vpcEndpointType": "Interface", "serviceName": "com.amazonaws.us-west-1.bedrock-runtime", **endpoint},
                {"vpcId": ["vpc"]})] if endpoint is not None else [])]


NEEDED = ["api.ecr.us-west-1.amazonaws.com", "logs.us-west-1.amazonaws.com", "*.us-west-1.rds.amazonaws.com",
          "*.dev.llm-gateway.internal", "*.efs.us-west-1.amazonaws.com"]
RUNTIME = "bedrock-runtime.us-west-1.amazonaws.com"
STACK_BAD = [
    StackProbe("egress-names-allow-listed", "no-firewall", _private_network({}, {"networkInterfaceId": ["eni"]})),
    StackProbe("egress-names-allow-listed", "main-table-no-firewall", _main_table_network(
        {}, {"networkInterfaceId": ["eni"]})),
    StackProbe("egress-names-allow-listed", "firewall-on-another-vpc", _firewalled(NEEDED, firewall_vpc="other-vpc")),
    StackProbe("egress-names-allow-listed", "alert-instead-of-block", _firewalled(NEEDED, block="ALERT")),
    StackProbe("egress-names-allow-listed", "every-aws-name", _firewalled([*NEEDED, "*.amazonaws.com"])),
    StackProbe("egress-names-allow-listed", "any-s3-bucket", _firewalled([*NEEDED, "*.s3.us-west-1.amazonaws.com"])),
    StackProbe("egress-names-allow-listed", "a-whole-tld", _firewalled([*NEEDED, "*.com"])),
    StackProbe("egress-names-allow-listed", "fails-open", _firewalled(NEEDED, fail_open="ENABLED")),
    StackProbe("egress-names-allow-listed", "endpoint-without-private-dns", _firewalled(
        [*NEEDED, RUNTIME], endpoint={"privateDnsEnabled": False})),
    StackProbe("egress-names-allow-listed", "endpoint-and-another-regions-runtime", _firewalled(
        [*NEEDED, RUNTIME, "bedrock-runtime.us-east-1.amazonaws.com"], endpoint={"privateDnsEnabled": True})),
    StackProbe("egress-names-allow-listed", "alert-lets-every-com-through", _firewalled(
        [*NEEDED, "*.com"], allow="ALERT")),
    StackProbe("egress-names-allow-listed", "blocks-only-address-queries", _firewalled(
        NEEDED, block_types={"qType": "A"})),
    StackProbe("egress-names-allow-listed", "endpoint-and-mantle", _firewalled(
        [*NEEDED, RUNTIME, "bedrock-mantle.us-east-1.api.aws"], endpoint={"privateDnsEnabled": True})),
    StackProbe("group-ingress-not-open-to-world", "four-ninths-as-rules", _group_rules(
        *((INGRESS, egress("tcp", 443, 443, cidrIpv4=c)) for c in ("1.0.0.0/9", "20.0.0.0/9", "40.0.0.0/9",
                                                                    "60.0.0.0/9")))),
    StackProbe("group-ingress-not-open-to-world", "halves-legacy-and-vpc", _group_rules(
        _legacy_ingress("0.0.0.0/1"), (INGRESS, egress("-1", 0, 0, cidrIpv4="128.0.0.0/1")))),
    StackProbe("group-ingress-not-open-to-world", "v6-quarters", _group_rules(
        *((INGRESS, egress("tcp", 443, 443, cidrIpv6=c)) for c in ("2600::/34", "2600:0:4000::/34",
                                                                    "2600:0:8000::/34", "2600:0:c000::/34")))),
    StackProbe("private-routes-avoid-igw", "main-table-via-vpc", _main_table_network({}, {"gatewayId": ["igw"]})),
    StackProbe("private-routes-avoid-igw", "default-route-table-inline", [
        ("vpc", "aws:ec2/vpc:Vpc", {}, {}),
        ("subnet", "aws:ec2/subnet:Subnet", {"tags": {"Tier": "private"}}, {"vpcId": ["vpc"]}),
        ("igw", "aws:ec2/internetGateway:InternetGateway", {}, {}),
        ("main", "aws:ec2/defaultRouteTable:DefaultRouteTable", {"routes": [
            {"cidrBlock": "0.0.0.0/0", "gatewayId": "unknown-until-applied"}]},
         {"routes": ["igw"], "defaultRouteTableId": ["vpc"]})]),
    StackProbe("private-routes-avoid-igw", "main-association-table", [
        ("vpc", "aws:ec2/vpc:Vpc", {}, {}),
        ("subnet", "aws:ec2/subnet:Subnet", {"tags": {"Tier": "private"}}, {"vpcId": ["vpc"]}),
        ("igw", "aws:ec2/internetGateway:InternetGateway", {}, {}),
        ("table", "aws:ec2/routeTable:RouteTable", {}, {}),
        ("main", "aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation", {},
         {"vpcId": ["vpc"], "routeTableId": ["table"]}),
        ("route", "aws:ec2/route:Route", {"destinationCidrBlock": "0.0.0.0/0"},
         {"routeTableId": ["table"], "gatewayId": ["igw"]})]),
    StackProbe("private-routes-avoid-igw", "inline-route-computed-gateway", [
        ("subnet", "aws:ec2/subnet:Subnet", {"tags": {"Tier": "private"}}, {}),
        ("igw", "aws:ec2/internetGateway:InternetGateway", {}, {}),
        ("table", "aws:ec2/routeTable:RouteTable", {"routes": [{"cidrBlock": "0.0.0.0/0", "gatewayId": "x"}]},
         {"routes": ["igw"]}),
        ("assoc", "aws:ec2/routeTableAssociation:RouteTableAssociation", {},
         {"subnetId": ["subnet"], "routeTableId": ["table"]})]),
    StackProbe("nat-admits-private-only", "legacy-rule-world", _nat(LEGACY, {
        "type": "ingress", "protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]})),
    StackProbe("nat-admits-private-only", "nat-as-instance", [
        ("nat-sg", SG, {}, {}),
        ("nat", "aws:ec2/instance:Instance", {"sourceDestCheck": False}, {"vpcSecurityGroupIds": ["nat-sg"]}),
        ("rule", INGRESS, egress("tcp", 443, 443, cidrIpv4="198.51.100.0/24"), {"securityGroupId": ["nat-sg"]})]),
    StackProbe("private-routes-avoid-igw", "igw-resource", _private_network({}, {"gatewayId": ["igw"]})),
    StackProbe("private-routes-avoid-igw", "literal-igw", _private_network({"gatewayId": "igw-0abc"}, {})),
    StackProbe("private-routes-avoid-igw", "inline-route", [
        ("subnet", "aws:ec2/subnet:Subnet", {"tags": {"Tier": "private"}}, {}),
        ("table", "aws:ec2/routeTable:RouteTable", {"routes": [{"cidrBlock": "0.0.0.0/0", "gatewayId": "igw-1"}]}, {}),
        ("assoc", "aws:ec2/routeTableAssociation:RouteTableAssociation", {},
         {"subnetId": ["subnet"], "routeTableId": ["table"]})]),
    StackProbe("nat-admits-private-only", "world", _nat(INGRESS, egress("tcp", 443, 443, cidrIpv4="0.0.0.0/0"))),
    StackProbe("nat-admits-private-only", "ipv6", _nat(INGRESS, egress("tcp", 443, 443, cidrIpv6="2001:db8::/32"))),
    StackProbe("nat-admits-private-only", "prefix-list", _nat(INGRESS, egress("tcp", 443, 443, prefixListId="pl-1"))),
    StackProbe("nat-admits-private-only", "primary-interface-world",
               _nat_instance(egress("tcp", 22, 22, cidrIpv4="203.0.113.7/32"))),
]
STACK_GOOD = [
    StackProbe("egress-names-allow-listed", "allow-list", _firewalled([*NEEDED, RUNTIME], fail_open="DISABLED")),
    StackProbe("egress-names-allow-listed", "endpoint-with-private-dns", _firewalled(
        [*NEEDED, RUNTIME], endpoint={"privateDnsEnabled": True})),
    StackProbe("egress-names-allow-listed", "endpoint-and-dual-stack-ecr", _firewalled(
        [*NEEDED, RUNTIME, "ecr.us-west-1.api.aws"], endpoint={"privateDnsEnabled": True})),
    StackProbe("egress-names-allow-listed", "private-routes-stay-inside-public-ones-leave", [
        ("vpc", "aws:ec2/vpc:Vpc", {}, {}), ("igw", "aws:ec2/internetGateway:InternetGateway", {}, {}),
        ("subnet", "aws:ec2/subnet:Subnet", {"tags": {"Tier": "private"}}, {"vpcId": ["vpc"]}),
        ("table", "aws:ec2/routeTable:RouteTable", {}, {"vpcId": ["vpc"]}),
        ("assoc", "aws:ec2/routeTableAssociation:RouteTableAssociation", {},
         {"subnetId": ["subnet"], "routeTableId": ["table"]}),
        ("peer-route", "aws:ec2/route:Route", {"destinationCidrBlock": "10.99.0.0/16"}, {"routeTableId": ["table"]}),
        ("public-table", "aws:ec2/routeTable:RouteTable", {}, {"vpcId": ["vpc"]}),
        ("public-route", "aws:ec2/route:Route", {"destinationCidrBlock": "0.0.0.0/0"},
         {"routeTableId": ["public-table"], "gatewayId": ["igw"]})]),
    StackProbe("egress-names-allow-listed", "no-route-out", [
        ("vpc", "aws:ec2/vpc:Vpc", {}, {}),
        ("subnet", "aws:ec2/subnet:Subnet", {"tags": {"Tier": "private"}}, {"vpcId": ["vpc"]}),
        ("table", "aws:ec2/routeTable:RouteTable", {}, {"vpcId": ["vpc"]}),
        ("assoc", "aws:ec2/routeTableAssociation:RouteTableAssociation", {},
         {"subnetId": ["subnet"], "routeTableId": ["table"]})]),
    StackProbe("egress-names-allow-listed", "public-subnet-only", _private_network({}, {"gatewayId": ["igw"]},
                                                                                   "public")),
    StackProbe("group-ingress-not-open-to-world", "office-rules", _group_rules(
        _legacy_ingress("203.0.113.0/24"), (INGRESS, egress("tcp", 443, 443, cidrIpv4="198.51.100.0/24")))),
    StackProbe("group-ingress-not-open-to-world", "ninths-in-different-groups", [
        *((f"group-{n}", SG, {}, {}) for n in range(4)),
        *((f"rule-{n}", INGRESS, egress("tcp", 443, 443, cidrIpv4=c), {"securityGroupId": [f"group-{n}"]})
          for n, c in enumerate(("1.0.0.0/9", "20.0.0.0/9", "40.0.0.0/9", "60.0.0.0/9")))]),
    StackProbe("private-routes-avoid-igw", "main-table-via-nat", _main_table_network(
        {}, {"networkInterfaceId": ["eni"]})),
    StackProbe("private-routes-avoid-igw", "egress-only-ipv6-inline", [
        ("subnet", "aws:ec2/subnet:Subnet", {"tags": {"Tier": "private"}}, {}),
        ("eigw", "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway", {}, {}),
        ("eni", "aws:ec2/networkInterface:NetworkInterface", {"sourceDestCheck": False}, {}),
        ("table", "aws:ec2/routeTable:RouteTable", {"routes": [
            {"cidrBlock": "0.0.0.0/0", "gatewayId": "", "networkInterfaceId": "eni-1"},
            {"ipv6CidrBlock": "::/0", "gatewayId": "", "egressOnlyGatewayId": "eigw-1"}]},
         {"routes": ["eigw", "eni"]}),
        ("assoc", "aws:ec2/routeTableAssociation:RouteTableAssociation", {},
         {"subnetId": ["subnet"], "routeTableId": ["table"]})]),
    StackProbe("private-routes-avoid-igw", "another-vpcs-main-table", [
        *_main_table_network({}, {"networkInterfaceId": ["eni"]}),
        ("public-vpc", "aws:ec2/vpc:Vpc", {}, {}),
        ("public-igw", "aws:ec2/internetGateway:InternetGateway", {}, {}),
        ("public-route", "aws:ec2/route:Route", {"destinationCidrBlock": "0.0.0.0/0"},
         {"routeTableId": ["public-vpc"], "gatewayId": ["public-igw"]})]),
    StackProbe("nat-admits-private-only", "nat-as-instance-private", [
        ("nat-sg", SG, {}, {}),
        ("nat", "aws:ec2/instance:Instance", {"sourceDestCheck": False}, {"vpcSecurityGroupIds": ["nat-sg"]}),
        ("rule", INGRESS, egress("tcp", 443, 443, cidrIpv4="10.10.128.0/20"), {"securityGroupId": ["nat-sg"]})]),
    StackProbe("private-routes-avoid-igw", "through-nat", _private_network({}, {"networkInterfaceId": ["eni"]})),
    StackProbe("private-routes-avoid-igw", "public-to-igw", _private_network({}, {"gatewayId": ["igw"]}, "public")),
    StackProbe("nat-admits-private-only", "private-subnet", _nat(INGRESS, egress("tcp", 443, 443,
                                                                                 cidrIpv4="10.10.128.0/20"))),
    StackProbe("nat-admits-private-only", "from-group", _nat(INGRESS, egress("tcp", 443, 443,
                                                                             referencedSecurityGroupId="sg-2"))),
    StackProbe("nat-admits-private-only", "primary-interface-private",
               _nat_instance(egress("tcp", 443, 443, cidrIpv4="10.10.128.0/20"))),
]
