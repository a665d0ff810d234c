"""A container image: its ECR repository (scan on push, lifecycle) and the image built from `images/<name>` and
pushed, tagged by content. Task definitions use the pushed digest, never a tag.

pulumi-docker rebuilds and pushes on any change of the Image's inputs (provider.go `diffUpdates`: imageName, build,
skipPush, buildOnPreview), even when the content tag stays the same, and ECR answers an immutable tag pushed again
with ImageTagAlreadyExistsException. So the content tags (`*-amd64`, `*-arm64`) are excluded from tag immutability
(what runs is pinned by digest anyway) and every other tag stays immutable; and the build paths are given relative to
the project directory, where Pulumi runs the program, so another checkout path is not a change.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

KEEP_IMAGES = 20
BUILD_DIR = Path(".build") / "images"
ARCHITECTURES = ("amd64", "arm64")
# Interpreter caches: written when a test imports a file of the image, never part of what it is.
IGNORED = ("__pycache__", "*.pyc")


def _ignored(relative: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in IGNORED)


def content_tag(context: Path, platform: str) -> str:
    """Same files and platform, same tag: a rebuild happens only when the image's inputs change."""
    digest = hashlib.sha256(platform.encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file() and not _ignored(p.relative_to(context))):
        digest.update(str(path.relative_to(context)).encode())
        digest.update(path.read_bytes())
    return f"{digest.hexdigest()[:16]}-{platform.rsplit('/', 1)[-1]}"


def lifecycle_policy() -> str:
    return json.dumps({"rules": [
        {"rulePriority": 1, "description": "Drop untagged layers after a week",
         "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7},
         "action": {"type": "expire"}},
        {"rulePriority": 2, "description": f"Keep the newest {KEEP_IMAGES} images",
         "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": KEEP_IMAGES},
         "action": {"type": "expire"}},
    ]})


@dataclass(frozen=True, kw_only=True)
class ContainerImageArgs:
    context: Path
    # Pulumi runs the program here; the build paths are given relative to it.
    project_dir: Path
    platform: str
    # Files rendered for this stack (e.g. LiteLLM's config.yaml), added to a copy of the context under .build/.
    generated_files: Mapping[str, str] = field(default_factory=dict)
    build_on_preview: bool
    force_delete: bool


def _staged(args: ContainerImageArgs) -> Path:
    """The context copied to .build/images/<name>-<digest>/ with the generated files written in (build output,
    ignored by git). Named by content and created by an atomic rename, so concurrent runs never see half a copy."""
    digest = hashlib.sha256(json.dumps(sorted(args.generated_files.items())).encode())
    digest.update(content_tag(args.context, args.platform).encode())
    staged = args.project_dir / BUILD_DIR / f"{args.context.name}-{digest.hexdigest()[:12]}"
    if not staged.exists():
        scratch = staged.with_name(f"{staged.name}.{os.getpid()}.tmp")
        shutil.copytree(args.context, scratch, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*IGNORED))
        for name, text in args.generated_files.items():
            (scratch / name).write_text(text)
        try:
            scratch.rename(staged)
        except OSError:  # another run made the same copy first
            shutil.rmtree(scratch, ignore_errors=True)
    return staged


class ContainerImage(pulumi.ComponentResource):
    repository_arn: pulumi.Output[str]
    image_ref: pulumi.Output[str]

    def __init__(self, name: str, args: ContainerImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-gateway:images:ContainerImage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        repository = aws.ecr.Repository(
            f"{name}-repo", image_tag_mutability="IMMUTABLE_WITH_EXCLUSION", force_delete=args.force_delete,
            image_tag_mutability_exclusion_filters=[{"filter": f"*-{arch}", "filter_type": "WILDCARD"}
                                                    for arch in ARCHITECTURES],
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "AES256"}], opts=child)
        aws.ecr.LifecyclePolicy(f"{name}-lifecycle", repository=repository.name, policy=lifecycle_policy(),
                                opts=child)
        source = _staged(args) if args.generated_files else args.context
        context = source.relative_to(args.project_dir)
        token = aws.ecr.get_authorization_token_output(registry_id=repository.registry_id,
                                                       opts=pulumi.InvokeOutputOptions(parent=self))
        image = docker.Image(
            f"{name}-image",
            image_name=pulumi.Output.concat(repository.repository_url, ":", content_tag(source, args.platform)),
            build={"context": str(context), "dockerfile": str(context / "Dockerfile"),
                   "platform": args.platform},
            registry={"server": repository.repository_url, "username": token.user_name, "password": token.password},
            build_on_preview=args.build_on_preview, opts=child)
        self.repository_arn = repository.arn
        self.image_ref = image.repo_digest
        self.register_outputs({"imageRef": self.image_ref, "repositoryArn": self.repository_arn})
