"""PostgreSQL on RDS for LiteLLM's virtual keys, users, teams and budgets.

Private subnets only, no public address, storage encrypted, backups kept. With protection on: deletion protection,
Pulumi `protect`, final snapshot.

The master password is one the gateway generated and keeps in its own Secrets Manager secret, which nothing
rotates. RDS's managed password (`manage_master_user_password`) is rotated by RDS every 7 days by default, but ECS
injects `DATABASE_PASSWORD` once at task start and LiteLLM builds its database URL once, so every connection made
after a rotation (pool refresh, failover) would fail while the tasks stay healthy.

A point-in-time restore (`restore`, written by tools.restore) is a new instance under a new logical name, so nothing
edits Pulumi state: the instance restored from the source is created, LiteLLM's task definitions follow its address,
then the source leaves the program. `restore_to_point_in_time` is ForceNew and never read back (terraform-provider-aws
instance.go), so the setting stays once made; a later restore is another name. When the stack protects its database
the source is retained on delete (Pulumi's retainOnDelete, read from the state of the update before) and keeps
running, deletion-protected, until an operator deletes it; Pulumi's `protect` on it is lifted by tools.restore
first, because the engine refuses to delete a protected resource even when it would retain it (pulumi/pulumi
pkg/resource/deploy/step.go, DeleteStep.Apply). Every instance keeps its automated backups when deleted, so the old
timeline stays restorable for the retention period.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pulumi
import pulumi_aws as aws

from components.naming import stack_unique

POSTGRES_PORT = 5432
# A restore replays the source's log up to the moment asked for; the provider's 40-minute create default can end
# while RDS still works, leaving a running instance outside the state.
RESTORE_TIMEOUTS = pulumi.CustomTimeouts(create="180m")


@dataclass(frozen=True, kw_only=True)
class Restore:
    source_identifier: str
    time: str | None  # UTC, RFC 3339 with Z; None: the latest restorable time


@dataclass(frozen=True, kw_only=True)
class DatabaseArgs:
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    instance_class: str
    engine_version: str
    allocated_storage_gb: int
    max_allocated_storage_gb: int
    backup_retention_days: int
    multi_az: bool
    protected: bool
    final_snapshot: bool
    # A Pulumi secret; RDS allows 8-128 printable ASCII characters except / " @ and space.
    password: pulumi.Input[str]
    restore: Restore | None = None
    database_name: str = "litellm"
    username: str = "litellm"


def _instance_name(name: str, restore: Restore | None) -> str:
    """The instance's logical name: one per restore, so a restore is a new resource and the source leaves."""
    if restore is None:
        return f"{name}-postgres"
    moment = restore.time.replace("-", "").replace(":", "").lower() if restore.time else "latest"
    source = hashlib.sha256(restore.source_identifier.encode()).hexdigest()[:6]
    return f"{name}-postgres-{moment}-{source}"


def _point_in_time(restore: Restore | None) -> aws.rds.InstanceRestoreToPointInTimeArgs | None:
    if restore is None:
        return None
    return aws.rds.InstanceRestoreToPointInTimeArgs(
        source_db_instance_identifier=restore.source_identifier, restore_time=restore.time,
        use_latest_restorable_time=True if restore.time is None else None)


def _final_snapshot_name(name: str) -> str:
    """Unique per instance: a replaced instance's final snapshot must not collide with the one its predecessor
    left (DeleteDBInstance fails with DBSnapshotAlreadyExists), so the name carries the instance's creation time."""
    return stack_unique(f"{name}-final-{datetime.now(UTC):%Y%m%d%H%M%S}")


class Database(pulumi.ComponentResource):
    address: pulumi.Output[str]
    identifier: pulumi.Output[str]
    port: int
    database_name: str
    username: str

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:data:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        subnets = aws.rds.SubnetGroup(f"{name}-subnets", subnet_ids=list(args.subnet_ids),
                                      description="Private subnets of the gateway", opts=child)
        instance = aws.rds.Instance(
            _instance_name(name, args.restore), engine="postgres", engine_version=args.engine_version,
            instance_class=args.instance_class, allocated_storage=args.allocated_storage_gb,
            max_allocated_storage=args.max_allocated_storage_gb, storage_type="gp3", storage_encrypted=True,
            db_name=args.database_name, username=args.username, password=args.password,
            port=POSTGRES_PORT, db_subnet_group_name=subnets.name, vpc_security_group_ids=[args.security_group_id],
            publicly_accessible=False, multi_az=args.multi_az, backup_retention_period=args.backup_retention_days,
            copy_tags_to_snapshot=True, auto_minor_version_upgrade=True, enabled_cloudwatch_logs_exports=["postgresql"],
            deletion_protection=args.protected, skip_final_snapshot=not args.final_snapshot,
            delete_automated_backups=False, restore_to_point_in_time=_point_in_time(args.restore),
            # Always named, so turning final_snapshot on later finds a name (ignore_changes keeps the first one).
            final_snapshot_identifier=_final_snapshot_name(name),
            # Read only when the instance is deleted: each instance keeps the name it was created with.
            opts=pulumi.ResourceOptions(parent=self, protect=args.protected, retain_on_delete=args.protected,
                                        ignore_changes=["finalSnapshotIdentifier"],
                                        custom_timeouts=RESTORE_TIMEOUTS if args.restore else None))
        self.address, self.identifier, self.port = instance.address, instance.identifier, POSTGRES_PORT
        self.database_name, self.username = args.database_name, args.username
        self.register_outputs({"address": self.address, "identifier": self.identifier})
