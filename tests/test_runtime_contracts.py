"""Runtime contracts: every call an actor makes at run time, taken from its upstream source, is permitted by the plan.

Mocks prove the graph's shape; these tables say what the running software does (with the source each row comes
from) and check on the planned graph that IAM allows that action on that concrete resource (conditions included),
that the security groups admit the flow at both ends, and that a route carries it. Removing a grant, a rule or a
route fails a row.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import yaml

from catalog import MODEL_CATALOG, US_PROFILE_REGIONS
from components.network import SESSION_MANAGER_ACTIONS
from offline.engine import ACCOUNT_ID, ROOT_DIR, Graph, Resource
from tests.docs import documentation
from tests.flows import FLOWS, Flow, listener_port
from tests.reachability import (
    SECURITY_GROUP,
    Peer,
    admits,
    documents_of,
    flow_allowed,
    group_id,
    resource_tags,
    role_of,
    route_target,
)
from tests.stacks import container, env, run_with, settings_of

from iam_logic import is_allowed, request_allowed

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
SERVICES = ("litellm", "grafana", "victoriametrics")
# An address AWS's public endpoints (Bedrock, ECR, Secrets Manager, CloudWatch Logs, EC2) answer on.
AWS_PUBLIC_ENDPOINT = "52.94.133.131"
# Bedrock User Guide, "Supported Regions and models for inference profiles": the US Claude 4.5 profiles route
# requests to us-east-1, us-east-2, us-west-1 and us-west-2.
US_PROFILE_DESTINATIONS = US_PROFILE_REGIONS


def container_of(definition: Resource) -> dict[str, Any]:
    (container,) = json.loads(definition.inputs["containerDefinitions"])
    return container


def definition_of(graph: Graph, key: str, kind: str = "task") -> Resource:
    return graph.one(TASK_DEFINITION, f"-{key}-{kind}")


def allowed(graph: Graph, role_arn: str, action: str, *resources: tuple[str, dict[str, Any]]) -> bool:
    return request_allowed(documents_of(graph, role_of(graph, role_arn)), action, list(resources))


def bare_secret_arn(value_from: str) -> str:
    """`valueFrom` may name a JSON key (`<arn>:<key>::`); IAM authorizes the secret's own ARN."""
    return ":".join(value_from.split(":")[:7])


# --- fck-nat's boot script ---------------------------------------------------------------------------------------

def _nat(graph: Graph) -> dict[str, Any]:
    template = graph.one("aws:ec2/launchTemplate:LaunchTemplate")
    tags = {spec["resourceType"]: spec["tags"] for spec in template.inputs["tagSpecifications"]}
    profile = graph.one("aws:iam/instanceProfile:InstanceProfile")
    (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.outputs["name"] == profile.inputs["role"]]
    static = graph.one("aws:ec2/networkInterface:NetworkInterface", "-nat")
    arn = f"arn:aws:ec2:{{}}:{ACCOUNT_ID}:{{}}".format
    region = settings_of(graph).region
    return {
        "role": role.outputs["arn"], "template": template,
        # The instance and its primary ENI get ids only at launch: what identifies them is the template's tags.
        "instance": (arn(region, "instance/i-0123456789abcdef0"), resource_tags(graph, tags["instance"])),
        "primary_eni": (arn(region, "network-interface/eni-0primary000000000"),
                        resource_tags(graph, tags["network-interface"])),
        "static_eni": (arn(region, f"network-interface/{graph.id_of(static)}"),
                       resource_tags(graph, static.inputs["tags"])),
        "eip": (arn(region, f"elastic-ip/{graph.one('aws:ec2/eip:Eip').outputs['allocationId']}"), {}),
        "foreign_eni": (arn(region, "network-interface/eni-0other0000000000"),
                        resource_tags(graph, {"NatInstance": "llm-gateway-other-gw-net-nat"})),
    }


# AndrewGuenther/fck-nat service/fck-nat.sh (main @ 193c58c), in the order it runs them with our /etc/fck-nat.conf.
FCK_NAT_CALLS = [
    ("associate-address --allocation-id $eip_id --network-interface-id $outbound_eni_id --allow-reassociation",
     "ec2:AssociateAddress", ("eip", "primary_eni")),
    ("modify-network-interface-attribute --network-interface-id $outbound_eni_id --no-source-dest-check",
     "ec2:ModifyNetworkInterfaceAttribute", ("primary_eni",)),
    ("attach-network-interface --instance-id $instance_id --device-index 1 --network-interface-id $eni_id",
     "ec2:AttachNetworkInterface", ("instance", "static_eni")),
]


@pytest.mark.parametrize(("call", "action", "resources"), FCK_NAT_CALLS, ids=[c[1] for c in FCK_NAT_CALLS])
def test_fck_nat_boot_script_may_make_its_calls(stack: Graph, call: str, action: str, resources: tuple) -> None:
    nat = _nat(stack)
    assert allowed(stack, nat["role"], action, *(nat[r] for r in resources)), call


def test_fck_nat_may_not_touch_another_stacks_interfaces(stack: Graph) -> None:
    nat = _nat(stack)
    for action in ("ec2:ModifyNetworkInterfaceAttribute", "ec2:AssociateAddress"):
        assert not allowed(stack, nat["role"], action, nat["foreign_eni"])


def test_fck_nat_is_configured_with_the_planned_eni_and_address(stack: Graph) -> None:
    """fck-nat.sh sources /etc/fck-nat.conf: `eni_id` (attach, route target); the user data puts the Elastic IP on
    the primary interface itself, retried (tests/test_nat_drills.py runs it)."""
    user_data = base64.b64decode(_nat(stack)["template"].inputs["userData"]).decode()
    static = stack.one("aws:ec2/networkInterface:NetworkInterface", "-nat")
    assert f"printf 'eni_id={stack.id_of(static)}\\n' > /etc/fck-nat.conf" in user_data
    assert "eip_id" not in user_data
    assert f"--allocation-id {stack.one('aws:ec2/eip:Eip').outputs['allocationId']}" in user_data


def test_fck_nat_reaches_the_ec2_api_before_its_elastic_ip_is_attached(stack: Graph) -> None:
    """The boot script calls the EC2 API from the instance itself: it needs a launch-time public address, a route to
    the internet gateway and HTTPS out; IMDSv2 (token PUT, hop limit 1) is what its curl calls use."""
    template = _nat(stack)["template"].inputs
    (interface,) = template["networkInterfaces"]
    assert interface["associatePublicIpAddress"] == "true" and interface["deviceIndex"] == 0
    group = stack.one("aws:autoscaling/group:Group")
    (subnet,) = group.inputs["vpcZoneIdentifiers"]
    igw = stack.id_of(stack.one("aws:ec2/internetGateway:InternetGateway"))
    assert route_target(stack, subnet, AWS_PUBLIC_ENDPOINT) == igw
    assert admits(stack, interface["securityGroups"][0], "out", 443, Peer(address=AWS_PUBLIC_ENDPOINT))
    assert template["metadataOptions"]["httpTokens"] == "required"


# --- the ECS agent: image, logs, secrets ---------------------------------------------------------------------------

def _definitions(graph: Graph) -> list[Resource]:
    return graph.of_type(TASK_DEFINITION)


def test_ecs_agent_may_pull_each_image(stack: Graph) -> None:
    """ECS Developer Guide, "Amazon ECS task execution IAM role": ecr:GetAuthorizationToken (no resource),
    ecr:BatchCheckLayerAvailability, ecr:GetDownloadUrlForLayer, ecr:BatchGetImage on the repository."""
    repositories = {r.outputs["repositoryUrl"]: r.outputs["arn"]
                    for r in stack.of_type("aws:ecr/repository:Repository")}
    for definition in _definitions(stack):
        role = definition.inputs["executionRoleArn"]
        repository = repositories[container_of(definition)["image"].split("@")[0]]
        assert allowed(stack, role, "ecr:GetAuthorizationToken", ("*", {}))
        for action in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"):
            assert allowed(stack, role, action, (repository, {})), f"{definition.name}: {action}"


def test_ecs_agent_may_write_each_log_stream(stack: Graph) -> None:
    """The awslogs driver creates `<prefix>/<container name>/<task id>` in the group and puts events in it."""
    groups = {g.outputs["name"]: g.outputs["arn"] for g in stack.of_type("aws:cloudwatch/logGroup:LogGroup")}
    for definition in _definitions(stack):
        container = container_of(definition)
        options = container["logConfiguration"]["options"]
        stream = f"{groups[options['awslogs-group']]}:log-stream:{options['awslogs-stream-prefix']}/" \
                 f"{container['name']}/0123456789abcdef0123456789abcdef"
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            assert allowed(stack, definition.inputs["executionRoleArn"], action, (stream, {})), definition.name


def test_ecs_agent_may_read_exactly_the_secrets_each_task_names(stack: Graph) -> None:
    for definition in _definitions(stack):
        secrets = container_of(definition)["secrets"]
        for secret in secrets:
            arn = bare_secret_arn(secret["valueFrom"])
            assert allowed(stack, definition.inputs["executionRoleArn"], "secretsmanager:GetSecretValue", (arn, {}))
        others = {s.outputs["arn"] for s in stack.of_type("aws:secretsmanager/secret:Secret")} - {
            bare_secret_arn(s["valueFrom"]) for s in secrets}
        for arn in others:
            assert not allowed(stack, definition.inputs["executionRoleArn"], "secretsmanager:GetSecretValue",
                               (arn, {})), f"{definition.name} may read {arn}"


# --- LiteLLM to Bedrock ------------------------------------------------------------------------------------------

def bedrock_requests(graph: Graph) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, resource, context) of each call LiteLLM makes for the served models: InvokeModel(WithResponseStream)
    on the `us.` profile in the Bedrock region, which Bedrock authorizes again on the foundation model in the
    region it routes to (with bedrock:InferenceProfileArn); CountTokens on the foundation model (count_tokens)."""
    settings = settings_of(graph)
    region = settings.bedrock_region
    requests = []
    for model in settings.models:
        bedrock_id = MODEL_CATALOG[model].bedrock_id
        profile = f"arn:aws:bedrock:{region}:{ACCOUNT_ID}:inference-profile/us.{bedrock_id}"
        for action in ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"):
            requests.append((action, profile, {}))
            requests += [(action, f"arn:aws:bedrock:{r}::foundation-model/{bedrock_id}",
                          {"bedrock:InferenceProfileArn": profile}) for r in US_PROFILE_DESTINATIONS]
        requests.append(("bedrock:CountTokens", f"arn:aws:bedrock:{region}::foundation-model/{bedrock_id}", {}))
    return requests


def test_litellm_may_call_bedrock_for_every_served_model(stack: Graph) -> None:
    role = definition_of(stack, "litellm").inputs["taskRoleArn"]
    for action, resource, context in bedrock_requests(stack):
        assert allowed(stack, role, action, (resource, context)), f"{action} on {resource}"


def test_litellm_may_not_invoke_a_foundation_model_outside_its_profiles(stack: Graph) -> None:
    role = definition_of(stack, "litellm").inputs["taskRoleArn"]
    bedrock_id = MODEL_CATALOG["claude-haiku-4-5"].bedrock_id
    assert not allowed(stack, role, "bedrock:InvokeModel",
                       (f"arn:aws:bedrock:us-east-1::foundation-model/{bedrock_id}", {}))


def test_litellm_config_calls_only_models_the_role_may_invoke(stack: Graph) -> None:
    """The config.yaml baked into the image is what LiteLLM reads: each route is a profile the role covers."""
    context = stack.one("docker:index/image:Image", "litellm-image").inputs["build"]["context"]
    config = yaml.safe_load((ROOT_DIR / context / "config.yaml").read_text())
    role = definition_of(stack, "litellm").inputs["taskRoleArn"]
    region = settings_of(stack).bedrock_region
    served = {MODEL_CATALOG[m].bedrock_id for m in settings_of(stack).models}
    for route in config["model_list"]:
        profile_id = route["litellm_params"]["model"].removeprefix("bedrock/")
        assert profile_id.removeprefix("us.") in served, "the config serves only the stack's models"
        assert allowed(stack, role, "bedrock:InvokeModelWithResponseStream",
                       (f"arn:aws:bedrock:{region}:{ACCOUNT_ID}:inference-profile/{profile_id}", {}))


# --- VictoriaMetrics' volume ---------------------------------------------------------------------------------------

def test_victoriametrics_may_mount_and_write_its_volume_through_its_access_point(stack: Graph) -> None:
    """With `authorization_config.iam = ENABLED`, EFS authorizes the mount as the task role: ClientMount and
    ClientWrite on the file system, with the access point in elasticfilesystem:AccessPointArn."""
    role = definition_of(stack, "victoriametrics").inputs["taskRoleArn"]
    volume = stack.one("aws:efs/fileSystem:FileSystem").outputs["arn"]
    access_point = stack.one("aws:efs/accessPoint:AccessPoint").outputs["arn"]
    for action in ("elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"):
        assert allowed(stack, role, action, (volume, {"elasticfilesystem:AccessPointArn": access_point}))
        assert not allowed(stack, role, action, (volume, {"elasticfilesystem:AccessPointArn": "arn:other"}))


# --- Grafana's SNS contact point -----------------------------------------------------------------------------------

def test_grafana_may_publish_alerts_to_the_alarm_topic_only(stack: Graph) -> None:
    """The SNS integration (grafana/alerting receivers/sns) calls sns:Publish on topic_arn with the task role's
    credentials, over HTTPS to the regional SNS endpoint through the NAT instance."""
    definition = definition_of(stack, "grafana")
    role = definition.inputs["taskRoleArn"]
    topic = stack.one("aws:sns/topic:Topic", "gw-alarms-topic").outputs["arn"]
    assert allowed(stack, role, "sns:Publish", (topic, {}))
    assert not allowed(stack, role, "sns:Publish", (topic + "-other", {}))
    service = stack.one("aws:ecs/service:Service", "-grafana-service")
    (group,) = service.inputs["networkConfiguration"]["securityGroups"]
    assert admits(stack, group, "out", 443, Peer(address=AWS_PUBLIC_ENDPOINT))
    subnet = service.inputs["networkConfiguration"]["subnets"][0]
    nat = stack.id_of(stack.one("aws:ec2/networkInterface:NetworkInterface", "-nat"))
    assert route_target(stack, subnet, AWS_PUBLIC_ENDPOINT) == nat


def test_flow_logs_service_may_write_its_log_group(stack: Graph) -> None:
    log = stack.one("aws:ec2/flowLog:FlowLog").inputs
    stream = f"{log['logDestination']}:log-stream:eni-0123456789abcdef0-all"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert allowed(stack, log["iamRoleArn"], action, (stream, {}))


# --- who talks to whom over the network ------------------------------------------------------------------------------



# Units that run in another unit's group: the migration task is LiteLLM's.
GROUP_OF = {"nat": "-net-nat", "migration": "-litellm-sg"}


def unit_group(graph: Graph, unit: str) -> str:
    return group_id(graph, GROUP_OF.get(unit, f"-{unit}-sg"))


@pytest.mark.parametrize("flow", FLOWS, ids=[f"{f.caller}->{f.target}" for f in FLOWS])
def test_security_groups_admit_each_runtime_flow(stack: Graph, flow: Flow) -> None:
    if not flow.applies(stack):
        assert not stack.of_type(SECURITY_GROUP) or not [
            g for g in stack.of_type(SECURITY_GROUP) if g.name.endswith(f"-{flow.target}-sg")], flow.why
        return
    assert flow_allowed(stack, unit_group(stack, flow.caller), unit_group(stack, flow.target),
                        flow.port(stack)), flow.why


def test_cloudfront_reaches_the_alb_listener(stack: Graph) -> None:
    """Both origin modes: the ALB admits CloudFront's origin-facing prefix list (CloudFront Developer Guide,
    "Restrict access with VPC origins", option 1, works before the VPC origin exists)."""
    (lookup,) = [a for t, a in stack.invokes if t == "aws:ec2/getManagedPrefixList:getManagedPrefixList"]
    assert lookup["name"] == "com.amazonaws.global.cloudfront.origin-facing"
    assert admits(stack, group_id(stack, "-alb-sg"), "in", listener_port(stack), Peer(prefix_list_id="pl-82a045da"))


def subnets_of(graph: Graph, unit: str) -> list[str]:
    if unit == "egress-probe":
        return graph.one("aws:lambda/function:Function").inputs["vpcConfig"]["subnetIds"]
    return service_of(graph, unit).inputs["networkConfiguration"]["subnets"]


@pytest.mark.parametrize("unit", [*SERVICES, "egress-probe"])
def test_each_task_reaches_aws_apis_through_the_nat(stack: Graph, unit: str) -> None:
    """Image pull, secrets, logs and Bedrock are public AWS endpoints: HTTPS out of the unit's group, the private
    route to the NAT's static ENI, the NAT's group in and out on 443, and its public route to the gateway. The
    egress probe takes the same way, so its failures mean the tasks' way is broken."""
    task_group = group_id(stack, f"-{unit}-sg")
    nat_group = group_id(stack, "-net-nat-eni")
    eni = stack.id_of(stack.one("aws:ec2/networkInterface:NetworkInterface", "-nat"))
    igw = stack.id_of(stack.one("aws:ec2/internetGateway:InternetGateway"))
    endpoint = Peer(address=AWS_PUBLIC_ENDPOINT)
    assert admits(stack, task_group, "out", 443, endpoint)
    for subnet in subnets_of(stack, unit):
        assert route_target(stack, subnet, AWS_PUBLIC_ENDPOINT) == eni
        cidr = next(s.inputs["cidrBlock"] for s in stack.of_type("aws:ec2/subnet:Subnet") if stack.id_of(s) == subnet)
        assert admits(stack, nat_group, "in", 443, Peer(address=cidr.split("/")[0]))
    assert admits(stack, group_id(stack, "-net-nat"), "out", 443, endpoint)
    nat_subnet = stack.one("aws:ec2/networkInterface:NetworkInterface", "-nat").inputs["subnetId"]
    assert route_target(stack, nat_subnet, AWS_PUBLIC_ENDPOINT) == igw


def log_group_arn(stack: Graph) -> str:
    return stack.one("aws:cloudwatch/logGroup:LogGroup", "egress-probe-logs").outputs["arn"]


def test_eventbridge_may_invoke_the_egress_probe_on_its_schedule(stack: Graph) -> None:
    """Lambda's resource policy must let events.amazonaws.com invoke the function for exactly this rule; the
    function's role makes its interfaces in the VPC (the actions of AWSLambdaVPCAccessExecutionRole, held to its
    subnets and group) and writes its own log group, and nothing else."""
    probe = stack.one("aws:lambda/function:Function")
    rule = stack.one("aws:cloudwatch/eventRule:EventRule")
    permission = stack.one("aws:lambda/permission:Permission").inputs
    assert (permission["action"], permission["principal"]) == ("lambda:InvokeFunction", "events.amazonaws.com")
    assert permission["function"] == probe.outputs["name"] and permission["sourceArn"] == rule.outputs["arn"]
    role = role_of(stack, probe.inputs["role"])
    assert not [a for a in stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.inputs["role"] == role.outputs["name"]], "no AWS managed policy"
    documents, ec2 = documents_of(stack, role), f"arn:aws:ec2:us-west-1:{ACCOUNT_ID}"
    subnet, group = probe.inputs["vpcConfig"]["subnetIds"][0], probe.inputs["vpcConfig"]["securityGroupIds"][0]
    default_group = stack.id_of(stack.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"))
    assert probe.inputs["replacementSecurityGroupIds"] == [default_group]
    for resource in (f"{ec2}:network-interface/eni-1", f"{ec2}:subnet/{subnet}", f"{ec2}:security-group/{group}",
                     f"{ec2}:security-group/{default_group}"):
        assert is_allowed(documents, "ec2:CreateNetworkInterface", resource), resource
    assert is_allowed(documents, "logs:CreateLogStream", f"{log_group_arn(stack)}:log-stream:2026/12/02/abc")
    assert not is_allowed(documents, "ec2:CreateNetworkInterface", f"{ec2}:subnet/subnet-elsewhere")
    assert is_allowed(documents, "ec2:DeleteNetworkInterface", f"{ec2}:network-interface/eni-1")
    assert is_allowed(documents, "ec2:DescribeNetworkInterfaces", "*")
    assert is_allowed(documents, "logs:PutLogEvents", f"{log_group_arn(stack)}:log-stream:2026/12/02/[$LATEST]abc")
    assert not is_allowed(documents, "logs:PutLogEvents", f"arn:aws:logs:us-west-1:{ACCOUNT_ID}:log-group:other:*")


def test_image_layers_come_from_s3_through_the_gateway_endpoint(stack: Graph) -> None:
    (endpoint,) = [e for e in stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
                   if e.inputs["vpcEndpointType"] == "Gateway"]
    assert endpoint.inputs["serviceName"] == f"com.amazonaws.{settings_of(stack).region}.s3"
    private_tables = {a.inputs["routeTableId"] for a in stack.of_type(
        "aws:ec2/routeTableAssociation:RouteTableAssociation") if "private" in a.name}
    assert set(endpoint.inputs["routeTableIds"]) == private_tables


def service_of(graph: Graph, key: str) -> Resource:
    return graph.one("aws:ecs/service:Service", f"-{key}-service")


# --- names and settings the software resolves at run time ----------------------------------------------------------

def test_victoriametrics_finds_litellm_by_its_cloud_map_name(stack: Graph) -> None:
    """VictoriaMetrics resolves %{LITELLM_HOST} (type A) through the VPC resolver; ECS registers each LiteLLM task
    under the Cloud Map service in the namespace of this VPC."""
    scrape = (ROOT_DIR / "images" / "victoriametrics" / "scrape.yml").read_text()
    assert "%{LITELLM_HOST}" in scrape
    host = env(container(stack, "victoriametrics"))[
        "LITELLM_HOST"]
    namespace = stack.one("aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace")
    discovery = stack.one("aws:servicediscovery/service:Service", "-litellm-discovery")
    assert host == f"{discovery.inputs['name']}.{namespace.inputs['name']}"
    assert namespace.inputs["vpc"] == stack.id_of(stack.one("aws:ec2/vpc:Vpc"))
    assert stack.one("aws:ec2/vpc:Vpc").inputs["enableDnsSupport"] is True
    assert service_of(stack, "litellm").inputs["serviceRegistries"]["registryArn"] == discovery.outputs["arn"]


@pytest.mark.parametrize("service", ["litellm", "grafana"])
def test_the_alb_forwards_to_a_container_that_exists(stack: Graph, service: str) -> None:
    """CreateService fails unless loadBalancers[].containerName/containerPort name a container and its port."""
    (balancer,) = service_of(stack, service).inputs["loadBalancers"]
    planned = container(stack, service)
    assert balancer["containerName"] == planned["name"]
    assert balancer["containerPort"] in [m["containerPort"] for m in planned["portMappings"]]


def test_litellm_keeps_idle_connections_longer_than_the_alb(stack: Graph) -> None:
    """ELB User Guide: the target's keep-alive must exceed the ALB idle timeout, or the ALB reuses a connection the
    target closed and answers 502. LiteLLM 1.108.7 passes KEEPALIVE_TIMEOUT to uvicorn (default 5 s)."""
    idle = stack.one("aws:lb/loadBalancer:LoadBalancer").inputs["idleTimeout"]
    environment = env(container(stack, "litellm"))
    assert int(environment["KEEPALIVE_TIMEOUT"]) > idle


def test_litellm_writes_its_spend_before_ecs_kills_it(stack: Graph) -> None:
    """On SIGTERM (scale-in, deploys, Spot) LiteLLM 1.108.7 drains for GRACEFUL_SHUTDOWN_TIMEOUT (default 30 s), uvicorn
    gets 10 s more (proxy_cli.py), then the spend it still holds is written (flush_spend_counters_on_shutdown, three
    tries). ECS sends SIGKILL `stopTimeout` after SIGTERM: the drain must leave room for the write."""
    definition = container(stack, "litellm")
    drain = int(env(definition)["GRACEFUL_SHUTDOWN_TIMEOUT"])
    assert drain > 30, "long streams get more than LiteLLM's default"
    assert drain + 10 + 20 <= definition["stopTimeout"] <= 120


def test_grafana_never_closes_idle_connections_before_the_alb(stack: Graph) -> None:
    """Grafana's http.Server sets only ReadTimeout ([server] read_timeout, default 0), which Go also uses as the
    idle timeout: unset, idle connections stay open; set, it must exceed the ALB's idle timeout."""
    idle = stack.one("aws:lb/loadBalancer:LoadBalancer").inputs["idleTimeout"]
    environment = env(container(stack, "grafana"))
    timeout = environment.get("GF_SERVER_READ_TIMEOUT", "0s")
    assert timeout in ("0", "0s") or int(timeout.rstrip("s")) > idle


@pytest.mark.parametrize("domain", [None, {"name": "llm.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}])
def test_grafana_accepts_posts_from_every_viewer_hostname(domain: dict | None, dev: Graph) -> None:
    """Grafana's CSRF check compares the Origin's hostname with Host (the ALB's name behind CloudFront's
    AllViewerExceptHostHeader) and with csrf_trusted_origins: bare hostnames, space-separated."""
    graph = run_with("dev", edge={"domain": domain}) if domain else dev
    environment = env(container(graph, "grafana"))
    trusted = environment["GF_SECURITY_CSRF_TRUSTED_ORIGINS"].split(" ")
    viewer_hosts = [graph.one("aws:cloudfront/distribution:Distribution").outputs["domainName"],
                    *([domain["name"]] if domain else [])]
    assert sorted(trusted) == sorted(viewer_hosts)
    assert all(re.fullmatch(r"[a-z0-9.-]+", host) for host in trusted), "hostnames, no scheme or port"


# --- the deploy-time migration script ------------------------------------------------------------------------------

RUN_TASK_SCRIPT = ROOT_DIR / "scripts" / "run-ecs-task.sh"
# AWS CLI command -> the IAM actions it needs (botocore operation names; RunTask passes the task definition's roles,
# so iam:PassRole on both, and tags the task it starts with --propagate-tags, so ecs:TagResource).
CLI_ACTIONS = {"run-task": ("ecs:RunTask", "iam:PassRole", "ecs:TagResource"),
               "describe-tasks": ("ecs:DescribeTasks",), "stop-task": ("ecs:StopTask",)}


def test_migration_task_runs_where_it_reaches_its_database(stack: Graph) -> None:
    """scripts/run-ecs-task.sh runs the pre-deploy task in the subnets and group it is handed: those must be
    LiteLLM's private subnets and group (the one Postgres admits), and the definition the migration one."""
    environment = stack.one("command:local:Command").inputs["environment"]
    litellm = service_of(stack, "litellm").inputs["networkConfiguration"]
    assert environment["SECURITY_GROUP"] == group_id(stack, "-litellm-sg") == litellm["securityGroups"][0]
    assert environment["SUBNETS"].split(",") == litellm["subnets"]
    assert environment["TASK_DEFINITION"] == definition_of(stack, "litellm", "pre-deploy").outputs["arn"]
    assert flow_allowed(stack, environment["SECURITY_GROUP"], group_id(stack, "-postgres-sg"), 5432)


def test_readme_names_every_permission_the_deploy_script_uses() -> None:
    """The script runs with the deployer's AWS CLI credentials, not the program's provider: the README must say
    which permissions that identity needs."""
    code = "\n".join(line for line in RUN_TASK_SCRIPT.read_text().splitlines() if not line.lstrip().startswith("#"))
    used = set(re.findall(r"(?<![\w-])ecs ([a-z]+(?:-[a-z]+)+)", code))
    assert used == {"run-task", "describe-tasks", "stop-task"}
    readme = documentation()
    missing = [action for command in sorted(used) for action in CLI_ACTIONS[command] if action not in readme]
    assert not missing, f"README does not name {missing}"


def test_operators_tunnel_lands_on_the_services_it_names(stack: Graph) -> None:
    """tools.tunnel forwards through Session Manager on the NAT instance (its role may open sessions, the minimum
    Session Manager documents, and nothing else of Systems Manager) to the Cloud Map names it exports; the instance
    resolves them with the VPC resolver."""
    role = role_of(stack, _nat(stack)["role"])
    assert not [a for a in stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.inputs["role"] == role.outputs["name"]], "no AWS managed policy"
    documents = documents_of(stack, role)
    for action in SESSION_MANAGER_ACTIONS:
        assert is_allowed(documents, action, "*"), action
    for action in ("ssm:GetParameter", "ssm:SendCommand", "ec2messages:GetMessages", "s3:GetObject"):
        assert not is_allowed(documents, action, "*"), action
    endpoints = stack.outputs["adminEndpoints"]
    namespace = stack.one("aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace").inputs["name"]
    for service, port in (("litellm", 4000), ("grafana", 3000)):
        name = stack.one("aws:servicediscovery/service:Service", f"-{service}-discovery").inputs["name"]
        assert endpoints[service] == f"{name}.{namespace}:{port}"
    assert stack.outputs["natGroupName"] == stack.one("aws:autoscaling/group:Group").outputs["name"]
