#!/usr/bin/env bash
# Run one ECS task to completion; fail unless its container exits 0. Pulumi runs it (pulumi-command) on each deploy
# that changes the task definition (LiteLLM's database migrations), before the service rolls.
#
# Credentials: the AWS CLI's default chain on the deploying machine (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, an
# instance or CI role), not the Pulumi AWS provider's profile or assumed role. That identity needs ecs:RunTask on
# the task definition, iam:PassRole on its execution and task roles, ecs:TagResource (the task takes the task
# definition's tags), ecs:DescribeTasks and ecs:StopTask.
#
# It waits with its own deadline (TIMEOUT_SECONDS), not `aws ecs wait tasks-stopped` (100 polls of 6 s), and stops
# the task whenever it ends before the task did (deadline, error, interrupt, kill), so no migration keeps running
# behind a failed `pulumi up`.
set -euo pipefail
: "${REGION:?}" "${CLUSTER:?}" "${TASK_DEFINITION:?}" "${SUBNETS:?}" "${SECURITY_GROUP:?}"
timeout_seconds="${TIMEOUT_SECONDS:-3300}"
poll_seconds="${POLL_SECONDS:-10}"
# A status line on each change of the task's status and at least this often, so a long migration is seen waiting.
status_every_seconds="${STATUS_EVERY_SECONDS:-60}"

ecs() {
  local command="$1"
  shift
  aws ecs "$command" --region "$REGION" --cluster "$CLUSTER" "$@"
}

network="awsvpcConfiguration={subnets=[${SUBNETS}],securityGroups=[${SECURITY_GROUP}],assignPublicIp=DISABLED}"
started=$(ecs run-task --task-definition "$TASK_DEFINITION" --launch-type FARGATE \
  --network-configuration "$network" --started-by pulumi-pre-deploy --propagate-tags TASK_DEFINITION \
  --query '[tasks[0].taskArn, failures[0].arn, failures[0].reason, failures[0].detail]' --output text)
IFS=$'\t' read -r task_arn failure_arn failure_reason failure_detail <<<"$started"
if [ -z "$task_arn" ] || [ "$task_arn" = "None" ]; then
  echo "run-task started no task for $TASK_DEFINITION: ${failure_reason} (${failure_detail}; ${failure_arn})" >&2
  exit 1
fi
echo "started $task_arn; waiting up to ${timeout_seconds} s"

stop_task() {
  ecs stop-task --task "$task_arn" --reason "$1" --query 'task.lastStatus' --output text >/dev/null || true
  echo "stopped $task_arn: $1" >&2
}

# Pulumi ends this script with SIGKILL when `pulumi up` is interrupted or times out (pulumi-command cancels its
# process context), which no trap sees: a detached watchdog stops the task once this script is gone unfinished.
finished=$(mktemp)
(
  trap '' INT TERM HUP
  while kill -0 "$$" 2>/dev/null; do sleep "${WATCHDOG_SECONDS:-5}"; done
  [ -s "$finished" ] || stop_task "pulumi up ended before the task did"
  rm -f "$finished"
) </dev/null >/dev/null 2>&1 &
disown
finish() { echo finished >"$finished"; }
stop_unless_finished() {
  [ -s "$finished" ] || stop_task "$1"
  finish
}
trap 'stop_unless_finished "the deploy script stopped early"' EXIT
trap 'stop_unless_finished "pulumi up was interrupted"; exit 130' INT TERM

# ECS is eventually consistent: a task just started may be MISSING for a moment.
deadline=$((SECONDS + timeout_seconds))
missing_until=$((SECONDS + ${MISSING_GRACE_SECONDS:-120}))
began=$SECONDS
said_status="" said_at=$SECONDS
while :; do
  sleep "$poll_seconds"
  status=$(ecs describe-tasks --tasks "$task_arn" \
    --query '[tasks[0].lastStatus, tasks[0].containers[0].exitCode, tasks[0].stopCode, failures[0].reason]' \
    --output text)
  IFS=$'\t' read -r last_status exit_code stop_code missing <<<"$status"
  if [ "$last_status" != "$said_status" ] || [ $((SECONDS - said_at)) -ge "$status_every_seconds" ]; then
    echo "task ${task_arn##*/}: ${last_status}, $((SECONDS - began)) s of at most ${timeout_seconds} s"
    said_status=$last_status said_at=$SECONDS
  fi
  if [ "$last_status" = "STOPPED" ]; then
    break
  fi
  if [ "$last_status" = "None" ] && [ "$missing" != "None" ] && [ "$SECONDS" -ge "$missing_until" ]; then
    echo "task $task_arn cannot be described: $missing" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "no result after ${timeout_seconds} s" >&2
    exit 1
  fi
done
trap finish EXIT

if [ "$exit_code" != "0" ]; then
  reasons=$(ecs describe-tasks --tasks "$task_arn" \
    --query '[tasks[0].stoppedReason, tasks[0].containers[0].reason]' --output text)
  echo "task $task_arn failed (exit code $exit_code, $stop_code): ${reasons//$'\t'/; }; see its logs in CloudWatch" >&2
  exit 1
fi
echo "task $task_arn succeeded"
