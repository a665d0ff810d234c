"""EFS volume for VictoriaMetrics' data, so metrics survive task replacement.

Encrypted, one mount target per private subnet, an access point that pins the owner (fixed uid/gid) and
the directory. The mount targets use the group the gateway hands in (NFS from VictoriaMetrics only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

NFS_PORT = 2049
OWNER_UID = OWNER_GID = 1000


@dataclass(frozen=True, kw_only=True)
class MetricsVolumeArgs:
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    protected: bool
    directory: str = "/victoria-metrics"


class MetricsVolume(pulumi.ComponentResource):
    file_system_id: pulumi.Output[str]
    file_system_arn: pulumi.Output[str]
    access_point_id: pulumi.Output[str]
    access_point_arn: pulumi.Output[str]

    def __init__(self, name: str, args: MetricsVolumeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:data:MetricsVolume", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        volume = aws.efs.FileSystem(f"{name}-efs", encrypted=True, performance_mode="generalPurpose",
                                    throughput_mode="elastic",
                                    opts=pulumi.ResourceOptions(parent=self, protect=args.protected))
        aws.efs.BackupPolicy(f"{name}-backup", file_system_id=volume.id,
                             backup_policy={"status": "ENABLED" if args.protected else "DISABLED"}, opts=child)
        for index, subnet_id in enumerate(args.subnet_ids):
            aws.efs.MountTarget(f"{name}-mount-{index}", file_system_id=volume.id, subnet_id=subnet_id,
                                security_groups=[args.security_group_id], opts=child)
        access_point = aws.efs.AccessPoint(
            f"{name}-access", file_system_id=volume.id,
            posix_user={"uid": OWNER_UID, "gid": OWNER_GID},
            root_directory={"path": args.directory, "creation_info": {
                "owner_uid": OWNER_UID, "owner_gid": OWNER_GID, "permissions": "0750"}},
            opts=child)
        self.file_system_id, self.file_system_arn = volume.id, volume.arn
        self.access_point_id, self.access_point_arn = access_point.id, access_point.arn
        self.register_outputs({"fileSystemId": self.file_system_id})
