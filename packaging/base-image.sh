#!/usr/bin/env bash
# Make sure the image's base, debian:bookworm-slim, is in podman's local store: pulled from a
# registry when one answers, else made here with debootstrap from Debian's package mirror (a
# minbase bookworm, trimmed of documentation and apt lists) and tagged under that name, so the
# Containerfile builds unchanged with --pull=never on a machine that reaches no registry.
set -euo pipefail
BASE=${BASE:-debian:bookworm-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
podman=(podman ${PODMAN_ARGS:-})
if "${podman[@]}" image exists "$BASE"; then
    exit 0
fi
if timeout 60 "${podman[@]}" pull -q "docker.io/library/$BASE" >/dev/null 2>&1; then
    "${podman[@]}" tag "docker.io/library/$BASE" "$BASE"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "base-image: install debootstrap (apt-get install debootstrap)" >&2; exit 1; }
suite=${BASE#*:}; suite=${suite%-slim}
root=$(mktemp -d /var/tmp/vigil-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "base-image: no registry answered; making $BASE with debootstrap from $MIRROR" >&2
debootstrap --variant=minbase "$suite" "$root" "$MIRROR" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/usr/share/info/* "$root"/var/log/*
# Docker's slim images keep documentation out of later installs too.
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
printf 'path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\npath-exclude /usr/share/info/*\n' \
    > "$root/etc/dpkg/dpkg.cfg.d/docker"
tar -C "$root" -c . | "${podman[@]}" import --change 'CMD ["bash"]' - "$BASE" >/dev/null
echo "base-image: $BASE made ($("${podman[@]}" image inspect "$BASE" --format '{{.Size}}') bytes)" >&2
