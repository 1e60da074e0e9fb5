#!/usr/bin/env bash
# Run by packaging/deb/build.sh in a bookworm container: /src is the checkout (read-only), /out
# receives the .deb. Builds the package tree in /pkg and runs dpkg-deb on it. procps: the
# unit reloads with /bin/kill -HUP.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates >/dev/null
cp -r /src /tmp/src  # pip builds in the source tree
rm -rf /tmp/src/.venv /tmp/src/build /tmp/src/*.egg-info /tmp/src/dist
version=$(sed -n 's/^version = "\(.*\)"/\1/p' /tmp/src/pyproject.toml)
arch=$(dpkg --print-architecture)
python=$(readlink -f /usr/bin/python3); python=${python##*/}  # python3.11: the venv's interpreter

sh /tmp/src/packaging/pip-install.sh /opt/vigil /tmp/src "$DEB_EXTRAS" "$DEB_PACKAGES"
"/opt/vigil/bin/python" -m compileall -q /opt/vigil >/dev/null || true  # pyc files, shipped: /opt is read-only for the service

pkg=/pkg
mkdir -p $pkg/DEBIAN $pkg/opt $pkg/usr/bin $pkg/etc/vigil $pkg/lib/systemd/system $pkg/usr/share/vigil \
    $pkg/usr/share/doc/vigil
cp -a /opt/vigil $pkg/opt/vigil
# The venv's interpreter is Debian's python3.11 itself (package $python), not /usr/bin/python3,
# which another package provides and a later release may point at another Python.
ln -sfn "/usr/bin/$python" $pkg/opt/vigil/bin/python3
ln -s /opt/vigil/bin/vigil $pkg/usr/bin/vigil
model=$(/opt/vigil/bin/python -c 'import importlib.resources as r; print(r.files("nudenet") / "320n.onnx")' 2>/dev/null || true)
[ -z "$model" ] || ln -s "$model" $pkg/usr/share/vigil/demo-yolov8n.onnx
install -m 0644 /tmp/src/examples/starter.yaml $pkg/etc/vigil/vigil.yaml
install -m 0644 /tmp/src/examples/vigil.yaml $pkg/usr/share/doc/vigil/vigil.example.yaml
# The units as shipped in systemd/, for the package: the command in /usr/bin, the package's own
# `vigil` system user instead of a dynamic one (its state and cache directories stay the same).
for unit in vigil.service vigil@.service; do
    sed -e 's|^ExecStart=/usr/local/bin/vigil |ExecStart=/usr/bin/vigil |' \
        -e 's|^DynamicUser=yes|DynamicUser=no\nGroup=vigil|' \
        /tmp/src/systemd/$unit > $pkg/lib/systemd/system/$unit
done
install -m 0644 /tmp/src/systemd/README.md $pkg/usr/share/doc/vigil/systemd.md
printf 'Apache-2.0: see https://www.apache.org/licenses/LICENSE-2.0\n' > $pkg/usr/share/doc/vigil/copyright

size=$(du -sk --exclude=DEBIAN $pkg | cut -f1)
cat > $pkg/DEBIAN/control <<CONTROL
Package: vigil
Version: $version
Architecture: $arch
Maintainer: vigil developers <vigil@localhost>
Installed-Size: $size
Depends: $python, adduser, ca-certificates, procps
Section: video
Priority: optional
Homepage: https://github.com/vigil-analytics/vigil
Description: streaming video-analytics daemon
 Cameras and files in, batched ONNX inference, tracking, zones and events,
 results out to JSONL, webhooks, MQTT (Home Assistant), NATS JetStream,
 video, snapshots and clips; a web console and an HTTP API. Runs as the
 systemd service vigil.service; edit /etc/vigil/vigil.yaml first.
CONTROL
echo /etc/vigil/vigil.yaml > $pkg/DEBIAN/conffiles
install -m 0755 /tmp/src/packaging/deb/postinst /tmp/src/packaging/deb/prerm /tmp/src/packaging/deb/postrm $pkg/DEBIAN/
out=/out/vigil_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zgzip -z6 --build $pkg "$out" >/dev/null
chown "${HOST_UID:-0}:${HOST_GID:-0}" "$out"
echo "built $out ($(du -h "$out" | cut -f1), installed $((size / 1024)) MiB)"
