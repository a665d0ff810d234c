#!/usr/bin/env bash
# Pin every image's base to the digest its tag points at now: FROM <image>:<tag> -> FROM <image>:<tag>@sha256:...
# Needs Docker with buildx and access to the registries; run it before a production deploy and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."

for dockerfile in images/*/Dockerfile; do
  base=$(awk '$1 == "FROM" { print $2; exit }' "$dockerfile")
  tagged=${base%@*}
  digest=$(docker buildx imagetools inspect "$tagged" --format '{{json .Manifest.Digest}}' | tr -d '"')
  case "$digest" in
    sha256:*) ;;
    *) echo "no digest for $tagged (got '$digest')" >&2; exit 1 ;;
  esac
  sed -i "s|^FROM ${base}\$|FROM ${tagged}@${digest}|" "$dockerfile"
  echo "$dockerfile: ${tagged}@${digest}"
done
