"""One Fargate service: task definition, roles, log group, security group, Cloud Map name, optional ALB target,
EFS volume and autoscaling. Used for LiteLLM, Grafana and VictoriaMetrics.

The gateway hands in the service's security group: who may talk to whom is declared where the units are wired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_command as command

from components.iam import allow, policy_document, trust_policy
from components.naming import stack_unique

TASK_TRUST = "ecs-tasks.amazonaws.com"
# Relative to the project directory, where Pulumi runs the program and its commands.
RUN_TASK_SCRIPT = "scripts/run-ecs-task.sh"
EXEC_ACTIONS = ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
# Placing a Fargate task, pulling its image and reading its secrets, before its container starts.
TASK_START_SECONDS = 300
# What a deployment that fails takes beyond a healthy one: the circuit breaker needs several failed tasks (at least 3)
# before it rolls back, and the rollback is a deployment of its own.
FAILED_ROLLOUT_MARGIN_SECONDS = 900
ECR_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]

# Fargate's most: SIGTERM, then SIGKILL this long after (ECS TaskDefinition ContainerDefinition.stopTimeout).
STOP_TIMEOUT_SECONDS = 120


@dataclass(frozen=True, kw_only=True)
class Container:
    image: pulumi.Input[str]
    port: int
    health_check: Sequence[str]
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # Environment variable -> Secrets Manager `valueFrom` (an ARN, or `<arn>:<json key>::`).
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    command: Sequence[str] | None = None
    health_check_start_seconds: int = 60


@dataclass(frozen=True, kw_only=True)
class PreDeployTask:
    """A one-off run of the same image (e.g. database migrations) that must succeed before the service rolls."""

    entry_point: Sequence[str]
    # How long the deploy waits for it before stopping it and failing (the task's own limits, plus its start).
    timeout_seconds: int
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EfsVolume:
    file_system_id: pulumi.Input[str]
    file_system_arn: pulumi.Input[str]
    access_point_id: pulumi.Input[str]
    access_point_arn: pulumi.Input[str]
    container_path: str


@dataclass(frozen=True, kw_only=True)
class Autoscaling:
    min_count: int
    max_count: int
    cpu_target_percent: int
    requests_per_target_per_minute: int | None = None
    # "<alb arn suffix>/<target group arn suffix>", for scaling on requests per target.
    alb_resource_label: pulumi.Input[str] | None = None


@dataclass(frozen=True, kw_only=True)
class FargateServiceArgs:
    region: str
    account_id: str
    cluster_arn: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    namespace_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    # The service's own group; who may reach it, and what it may reach, is wired by the gateway.
    security_group_id: pulumi.Input[str]
    # The service's one container and its Cloud Map name: a DNS label, and an ECS container name (no dots).
    key: str
    # Private DNS namespace the service registers in; it is reachable at `<key>.<namespace_name>`.
    namespace_name: str
    container: Container
    repository_arn: pulumi.Input[str]
    cpu: int
    memory: int
    architecture: str
    desired_count: int
    spot: bool
    log_retention_days: int
    exec_enabled: bool
    # Bare ARNs of every secret in `container.secrets`: the execution role may read exactly these.
    secret_arns: Sequence[pulumi.Input[str]] = ()
    task_policy_statements: Sequence[dict[str, Any]] = ()
    target_group_arn: pulumi.Input[str] | None = None
    health_check_grace_seconds: int = 120
    # The target group's deregistration delay: old tasks drain this long before a deployment completes.
    deregistration_delay_seconds: int = 0
    # Never two tasks at once (a single writer on one volume): stop the old task before starting the new.
    single_writer: bool = False
    volume: EfsVolume | None = None
    autoscaling: Autoscaling | None = None
    pre_deploy: PreDeployTask | None = None
    # What must exist before a task starts (the security group rules it needs), migrations included.
    ready_after: Sequence[pulumi.Resource] = ()


class FargateService(pulumi.ComponentResource):
    service_name: pulumi.Output[str]
    hostname: str
    task_definition_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: FargateServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:compute:FargateService", name, None, opts)
        self._name, self._args = name, args
        logs = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=args.log_retention_days, opts=self._child())
        self.log_group_name = logs.name
        execution_role = self._execution_role(logs)
        task_role = self._task_role()
        task_definition = self._task_definition("task", self._container_definition(logs), execution_role, task_role)
        self.task_definition_arn = task_definition.arn
        ready = [*args.ready_after]
        if args.pre_deploy:
            ready.append(self._pre_deploy(args.pre_deploy, logs, execution_role, task_role))
        self.hostname = f"{args.key}.{args.namespace_name}"
        service = self._service(task_definition, self._discovery(), ready)
        self.service_name = service.name
        if args.autoscaling:
            self._autoscale(service, args.autoscaling)
        self.register_outputs({"serviceName": self.service_name,
                               "taskDefinitionArn": self.task_definition_arn})

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _role(self, key: str, statements: list[dict[str, Any]]) -> aws.iam.Role:
        role = aws.iam.Role(f"{self._name}-{key}", assume_role_policy=trust_policy(TASK_TRUST, self._args.account_id),
                            opts=self._child())
        if statements:
            aws.iam.RolePolicy(f"{self._name}-{key}", role=role.name, policy=policy_document(*statements),
                               opts=self._child())
        return role

    def _execution_role(self, logs: aws.cloudwatch.LogGroup) -> aws.iam.Role:
        """Pull the image, write logs, read exactly this service's secrets."""
        statements = [
            allow(["ecr:GetAuthorizationToken"], ["*"], sid="EcrLogin"),  # takes no resource ARN
            allow(ECR_PULL_ACTIONS, [self._args.repository_arn], sid="PullImage"),
            allow(["logs:CreateLogStream", "logs:PutLogEvents"], [logs.arn.apply(lambda a: f"{a}:log-stream:*")],
                  sid="Logs"),
        ]
        if self._args.secret_arns:
            statements.append(allow(["secretsmanager:GetSecretValue"], list(self._args.secret_arns), sid="Secrets"))
        return self._role("execution", statements)

    def _task_role(self) -> aws.iam.Role:
        statements = list(self._args.task_policy_statements)
        if self._args.exec_enabled:
            statements.append(allow(EXEC_ACTIONS, ["*"], sid="EcsExec"))  # Session Manager channels: no ARN
        if volume := self._args.volume:
            statements.append(allow(
                ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"], [volume.file_system_arn],
                sid="MountVolume",
                condition={"ArnEquals": {"elasticfilesystem:AccessPointArn": volume.access_point_arn}}))
        return self._role("task", statements)

    def _container_definition(self, logs: aws.cloudwatch.LogGroup) -> dict[str, Any]:
        container = self._args.container
        definition: dict[str, Any] = {
            "name": self._args.key,
            "image": container.image,
            "essential": True,
            "portMappings": [{"containerPort": container.port, "protocol": "tcp", "name": "http"}],
            "environment": [{"name": k, "value": v} for k, v in sorted(container.environment.items())],
            "secrets": [{"name": k, "valueFrom": v} for k, v in sorted(container.secrets.items())],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": logs.name, "awslogs-region": self._args.region,
                "awslogs-stream-prefix": self._args.key}},
            "healthCheck": {"command": list(container.health_check), "interval": 30, "timeout": 5, "retries": 3,
                            "startPeriod": container.health_check_start_seconds},
            "linuxParameters": {"initProcessEnabled": True},
            "stopTimeout": STOP_TIMEOUT_SECONDS,
        }
        if container.command:
            definition["command"] = list(container.command)
        if self._args.volume:
            definition["mountPoints"] = [{"sourceVolume": "data", "containerPath": self._args.volume.container_path,
                                          "readOnly": False}]
        return definition

    def _task_definition(self, key: str, container: dict[str, Any], execution_role: aws.iam.Role,
                         task_role: aws.iam.Role) -> aws.ecs.TaskDefinition:
        volume = self._args.volume
        volumes = [{"name": "data", "efs_volume_configuration": {
            "file_system_id": volume.file_system_id, "transit_encryption": "ENABLED",
            "authorization_config": {"access_point_id": volume.access_point_id, "iam": "ENABLED"}}}] if volume else []
        return aws.ecs.TaskDefinition(
            f"{self._name}-{key}", family=stack_unique(f"{self._name}-{key}"),
            requires_compatibilities=["FARGATE"], network_mode="awsvpc",
            cpu=str(self._args.cpu), memory=str(self._args.memory),
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": self._args.architecture},
            execution_role_arn=execution_role.arn, task_role_arn=task_role.arn, volumes=volumes,
            container_definitions=pulumi.Output.json_dumps([container]), opts=self._child())

    def _pre_deploy(self, task: PreDeployTask, logs: aws.cloudwatch.LogGroup, execution_role: aws.iam.Role,
                    task_role: aws.iam.Role) -> command.local.Command:
        container = self._container_definition(logs)
        overrides = {e["name"]: e["value"] for e in container["environment"]} | dict(task.environment)
        container.update(entryPoint=list(task.entry_point), command=[], portMappings=[],
                         environment=[{"name": k, "value": v} for k, v in sorted(overrides.items())])
        del container["healthCheck"]
        definition = self._task_definition("pre-deploy", container, execution_role, task_role)
        # Pulumi's own limit comes after the script's, so the script can stop the task and say why.
        pulumi_limit = f"{task.timeout_seconds // 60 + 10}m"
        return command.local.Command(
            f"{self._name}-pre-deploy-run", create=f"bash {RUN_TASK_SCRIPT}", triggers=[definition.arn],
            environment={"REGION": self._args.region, "CLUSTER": self._args.cluster_arn,
                         "TASK_DEFINITION": definition.arn, "SECURITY_GROUP": self._args.security_group_id,
                         "SUBNETS": pulumi.Output.all(*self._args.subnet_ids).apply(",".join),
                         "TIMEOUT_SECONDS": str(task.timeout_seconds)},
            opts=self._child(depends_on=list(self._args.ready_after),
                             custom_timeouts=pulumi.CustomTimeouts(create=pulumi_limit, update=pulumi_limit)))

    def _discovery(self) -> aws.servicediscovery.Service:
        return aws.servicediscovery.Service(
            f"{self._name}-discovery", name=self._args.key,
            dns_config={"namespace_id": self._args.namespace_id, "routing_policy": "MULTIVALUE",
                        "dns_records": [{"type": "A", "ttl": 10}]},
            # ECS deregisters its tasks as it stops them, but an instance left behind (a task killed mid-way)
            # would make DeleteService fail and block `pulumi destroy`.
            force_destroy=True, opts=self._child())

    def _rollout_timeout(self) -> str:
        """How long `pulumi up` waits for the service to reach a steady state: a new task starting and passing its
        checks, the old ones draining, twice over (a failed deployment and ECS's rollback), plus the circuit
        breaker's failed attempts. pulumi-aws's own default is 20 minutes."""
        args = self._args
        one = (TASK_START_SECONDS + args.container.health_check_start_seconds + args.health_check_grace_seconds
               + args.deregistration_delay_seconds)
        return f"{-(-(2 * one + FAILED_ROLLOUT_MARGIN_SECONDS) // 60)}m"

    def _service(self, task_definition: aws.ecs.TaskDefinition, discovery: aws.servicediscovery.Service,
                 ready: list[pulumi.Resource]) -> aws.ecs.Service:
        args = self._args
        load_balancers = [{"target_group_arn": args.target_group_arn, "container_name": args.key,
                           "container_port": args.container.port}] if args.target_group_arn else []
        return aws.ecs.Service(
            f"{self._name}-service", cluster=args.cluster_arn, task_definition=task_definition.arn,
            desired_count=args.desired_count, platform_version="LATEST",
            capacity_provider_strategies=[{"capacity_provider": "FARGATE_SPOT" if args.spot else "FARGATE",
                                           "weight": 1}],
            # Moving a service between Fargate and Spot is an update (a new deployment), not a second service on the
            # same target group and Cloud Map name: pulumi-aws replaces the service otherwise (ecs/service.py,
            # capacity_provider_strategies: "Updating this argument requires force_new_deployment = true").
            force_new_deployment=True,
            network_configuration={"subnets": list(args.subnet_ids), "security_groups": [args.security_group_id],
                                   "assign_public_ip": False},
            # `pulumi up` fails when a deployment does not complete: terraform-provider-aws 6.x waits for the service
            # deployment and reports ROLLBACK_SUCCESSFUL (the circuit breaker's rollback) as an error.
            deployment_circuit_breaker={"enable": True, "rollback": True}, wait_for_steady_state=True,
            deployment_minimum_healthy_percent=0 if args.single_writer else 100,
            deployment_maximum_percent=100 if args.single_writer else 200,
            health_check_grace_period_seconds=args.health_check_grace_seconds if load_balancers else None,
            load_balancers=load_balancers,
            service_registries={"registry_arn": discovery.arn},
            enable_execute_command=args.exec_enabled, enable_ecs_managed_tags=True, propagate_tags="SERVICE",
            opts=self._child(depends_on=ready, ignore_changes=["desiredCount"] if args.autoscaling else None,
                             custom_timeouts=pulumi.CustomTimeouts(create=self._rollout_timeout(),
                                                                   update=self._rollout_timeout())))

    def _autoscale(self, service: aws.ecs.Service, scaling: Autoscaling) -> None:
        target = aws.appautoscaling.Target(
            f"{self._name}-scaling", service_namespace="ecs", scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", self._args.cluster_name, "/", service.name),
            min_capacity=scaling.min_count, max_capacity=scaling.max_count, opts=self._child())
        metrics: dict[str, tuple[str, int, pulumi.Input[str] | None]] = {
            "cpu": ("ECSServiceAverageCPUUtilization", scaling.cpu_target_percent, None)}
        if scaling.requests_per_target_per_minute and scaling.alb_resource_label is not None:
            metrics["requests"] = ("ALBRequestCountPerTarget", scaling.requests_per_target_per_minute,
                                   scaling.alb_resource_label)
        for key, (metric, value, label) in metrics.items():
            aws.appautoscaling.Policy(
                f"{self._name}-scale-{key}", policy_type="TargetTrackingScaling", resource_id=target.resource_id,
                scalable_dimension=target.scalable_dimension, service_namespace=target.service_namespace,
                target_tracking_scaling_policy_configuration={
                    "target_value": value, "scale_in_cooldown": 300, "scale_out_cooldown": 60,
                    "predefined_metric_specification": {"predefined_metric_type": metric, "resource_label": label}},
                opts=self._child())
