#!/usr/bin/env bash
# `make image`: build vigil's container image (packaging/Containerfile) with podman as
# vigil:VERSION and vigil:latest. The base comes from packaging/base-image.sh; pip inside the
# build reaches the package index with the CA bundle pip is configured with here (a build secret,
# never in a layer). Extra podman build arguments: IMAGE_ARGS (e.g. --build-arg EXTRAS=...).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-vigil}
podman=(podman ${PODMAN_ARGS:-})
bash packaging/base-image.sh
ca=${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}
[ -n "$ca" ] && [ -f "$ca" ] || ca=/etc/ssl/certs/ca-certificates.crt
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
"${podman[@]}" build --format docker --pull=never --network host --secret "id=pipca,src=$ca" \
    -f packaging/Containerfile -t "$IMAGE:$version" -t "$IMAGE:latest" ${IMAGE_ARGS:-} .
"${podman[@]}" image inspect "$IMAGE:$version" --format "image $IMAGE:$version: {{.Size}} bytes"
