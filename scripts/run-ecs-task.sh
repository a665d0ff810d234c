#!/usr/bin/env bash
# Run one ECS task to completion; fail unless its container exits 0. Pulumi runs it on each deploy that
# changes the task definition (LiteLLM's database migrations), before the service rolls.
set -euo pipefail
: "${REGION:?}" "${CLUSTER:?}" "${TASK_DEFINITION:?}" "${SUBNETS:?}" "${SECURITY_GROUP:?}"

network="awsvpcConfiguration={subnets=[${SUBNETS}],securityGroups=[${SECURITY_GROUP}],assignPublicIp=DISABLED}"
task_arn=$(aws ecs run-task --region "$REGION" --cluster "$CLUSTER" --task-definition "$TASK_DEFINITION" \
  --launch-type FARGATE --network-configuration "$network" --started-by pulumi-pre-deploy \
  --query 'tasks[0].taskArn' --output text)
if [ -z "$task_arn" ] || [ "$task_arn" = "None" ]; then
  echo "run-task started no task for $TASK_DEFINITION" >&2
  exit 1
fi
echo "started $task_arn"
aws ecs wait tasks-stopped --region "$REGION" --cluster "$CLUSTER" --tasks "$task_arn"
exit_code=$(aws ecs describe-tasks --region "$REGION" --cluster "$CLUSTER" --tasks "$task_arn" \
  --query 'tasks[0].containers[0].exitCode' --output text)
if [ "$exit_code" != "0" ]; then
  echo "task $task_arn exited with $exit_code; see its logs in CloudWatch" >&2
  exit 1
fi
echo "task $task_arn succeeded"
