#!/usr/bin/env bash
# `make deb`: build dist/vigil_<version>_<arch>.deb inside a container of the image's base
# (Debian bookworm, its python3.11), so the virtualenv under /opt/vigil is made where it will run
# and the host's Python does not matter. Needs podman (packaging/base-image.sh makes the base).
#   DEB_EXTRAS    extras in the package's virtualenv (default: mqtt,nats,tracking)
#   DEB_PACKAGES  more requirements (default: nudenet, whose YOLOv8n the starting configuration names)
set -euo pipefail
cd "$(dirname "$0")/../.."
podman=(podman ${PODMAN_ARGS:-})
BASE=${BASE:-debian:bookworm-slim}
bash packaging/base-image.sh
ca=${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}
[ -n "$ca" ] && [ -f "$ca" ] || ca=/etc/ssl/certs/ca-certificates.crt
mkdir -p dist
"${podman[@]}" run --rm --network host --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
    -v "$PWD:/src:ro" -v "$PWD/dist:/out" -v "$ca:/run/secrets/pipca:ro" \
    -e DEB_EXTRAS="${DEB_EXTRAS:-mqtt,nats,tracking}" -e DEB_PACKAGES="${DEB_PACKAGES:-nudenet==3.4.2}" \
    -e HOST_UID="$(id -u)" -e HOST_GID="$(id -g)" \
    "$BASE" bash /src/packaging/deb/inside.sh
ls -l dist/vigil_*.deb
