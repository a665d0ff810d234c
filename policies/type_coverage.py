"""Coverage: an AWS resource type nobody has judged is reported, not passed in silence.

JUDGED lists the types the other policies inspect and the types the gateway uses whose risk was reviewed (no
network reach, no grant, nothing public). Where a listed type can be made public or privileged, a policy judges that
shape: bucket, topic, secret, queue and repository policies and Lambda permissions (no-public-resource-access),
public access blocks (the same), task definitions (ecs-tasks-unprivileged, no-plain-secrets-in-env); a test keeps
each such type judged. Anything else from the AWS provider gets an advisory "not checked".
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

JUDGED = frozenset({
    "aws:acm/certificate:Certificate", "aws:acm/certificateValidation:CertificateValidation",
    "aws:appautoscaling/policy:Policy", "aws:appautoscaling/target:Target", "aws:autoscaling/group:Group",
    "aws:cloudfront/distribution:Distribution", "aws:cloudfront/function:Function",
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy",
    "aws:cloudfront/vpcOrigin:VpcOrigin", "aws:cloudwatch/eventRule:EventRule",
    "aws:cloudwatch/eventTarget:EventTarget", "aws:cloudwatch/logDelivery:LogDelivery",
    "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination",
    "aws:cloudwatch/logDeliverySource:LogDeliverySource", "aws:cloudwatch/logGroup:LogGroup",
    "aws:cloudwatch/logMetricFilter:LogMetricFilter", "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "aws:ec2/eip:Eip", "aws:ec2/flowLog:FlowLog",
    "aws:ec2/instance:Instance", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/networkInterface:NetworkInterface", "aws:ec2/route:Route", "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/securityGroupRule:SecurityGroupRule", "aws:ec2/subnet:Subnet", "aws:ec2/vpc:Vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint", "aws:ecr/lifecyclePolicy:LifecyclePolicy", "aws:ecr/repository:Repository",
    "aws:ecs/cluster:Cluster", "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders",
    "aws:elasticache/replicationGroup:ReplicationGroup", "aws:elasticache/subnetGroup:SubnetGroup",
    "aws:ecs/service:Service", "aws:ecs/taskDefinition:TaskDefinition", "aws:ecs/taskSet:TaskSet",
    "aws:efs/accessPoint:AccessPoint", "aws:efs/backupPolicy:BackupPolicy", "aws:efs/fileSystem:FileSystem",
    "aws:efs/mountTarget:MountTarget", "aws:iam/groupPolicy:GroupPolicy",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment", "aws:iam/instanceProfile:InstanceProfile",
    "aws:iam/policy:Policy", "aws:iam/policyAttachment:PolicyAttachment", "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicy:UserPolicy", "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:lambda/function:Function", "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
    "aws:lambda/permission:Permission", "aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule",
    "aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup", "aws:rds/cluster:Cluster",
    "aws:rds/clusterInstance:ClusterInstance", "aws:rds/instance:Instance", "aws:rds/subnetGroup:SubnetGroup",
    "aws:route53/record:Record", "aws:s3/bucket:Bucket",
    # dns_firewall.py: rules, their domain lists, associations and the fail mode, per VPC.
    "aws:route53/resolverFirewallRule:ResolverFirewallRule",
    "aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList",
    "aws:route53/resolverFirewallRuleGroup:ResolverFirewallRuleGroup",
    "aws:route53/resolverFirewallRuleGroupAssociation:ResolverFirewallRuleGroupAssociation",
    "aws:route53/resolverFirewallConfig:ResolverFirewallConfig",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:secretsmanager/secret:Secret", "aws:secretsmanager/secretVersion:SecretVersion",
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace", "aws:servicediscovery/service:Service",
    "aws:sns/topic:Topic", "aws:sns/topicPolicy:TopicPolicy", "aws:sns/topicSubscription:TopicSubscription",
    "aws:secretsmanager/secretPolicy:SecretPolicy", "aws:sqs/queuePolicy:QueuePolicy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "aws:wafv2/webAcl:WebAcl",
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
})


def _validate_judged(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type.startswith("aws:") and args.resource_type not in JUDGED:
        report(f"not checked: {args.resource_type} (no policy of the pack judges this type)")


POLICIES = [
    ResourceValidationPolicy(
        name="resource-coverage", description="Every AWS resource type is one the pack judges or has reviewed.",
        validate=_validate_judged, enforcement_level=EnforcementLevel.ADVISORY, severity=Severity.LOW,
        remediation_steps="Review the type's risks; add checks for them, then list it in policies/type_coverage.py."),
]
