#!/usr/bin/env bash
# The brokers the tests start (Debian's mosquitto for MQTT, nats-server for NATS JetStream): installed
# when missing, as root through apt; and Debian's chromium with its chromedriver for the console's
# browser tests (tests/browser: Selenium drives /usr/bin/chromium through /usr/bin/chromedriver, no
# browser download); GStreamer and PyGObject's build dependencies for the gstreamer decoder. `make
# test` and .ci/run call it (the Makefile before it installs the venv); the broker and browser tests
# fail, never skip, when one is still missing. podman, runc and debootstrap for the packaging tests.
set -euo pipefail
missing=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || missing+=(chromium chromium-driver)
# The packaging tests (tests/packaging): podman builds and runs the image (with runc: crun refuses
# some machines' cgroups), debootstrap makes its base when no registry answers, dpkg-deb the .deb.
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || missing+=("$tool"); done
# The gstreamer decoder: GStreamer's plugins (gst-libav: FFmpeg's decoders) and introspection data,
# and what PyGObject (the `gstreamer` extra) builds against in the venv.
gstreamer=(gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav
    gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 libgirepository1.0-dev libcairo2-dev pkg-config gcc python3-dev)
if command -v dpkg-query >/dev/null; then
    for package in "${gstreamer[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "install-services: ${missing[*]} missing; install them (Debian: apt-get install ${missing[*]}) or the broker, browser and GStreamer tests fail" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts the packaged services; the tests run their own brokers on free ports.
for service in mosquitto nats-server; do
    systemctl disable --now "$service" >/dev/null 2>&1 || true
done
