"""The Debian package as shipped (issue 32): `make deb`'s script builds it in a bookworm container,
then it is installed with apt into a fresh container of the same base. vigil runs from its own
virtualenv under /opt/vigil, the starting configuration checks, systemd accepts the unit, and
remove keeps the data while purge removes it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.packaging.podman import BASE, LIMITS, ROOT, podman, script

# Image and package builds load both cores for minutes: after the parallel run, alone.
pytestmark = pytest.mark.serial

# Each step prints a marker line the test reads back, so a failure names the step.
STEPS = r"""
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq /dist/$DEB >/dev/null
version=$(vigil --version); echo "version: $version"
echo "owner: $(stat -c '%U %a' /var/lib/vigil) $(getent passwd vigil | cut -d: -f7)"
vigil check /etc/vigil/vigil.yaml; echo "checked: yes"
dpkg-query -W -f='conffiles: ${Conffiles}\n' vigil
apt-get install -y -qq --no-install-recommends systemd >/dev/null
systemd-analyze verify /lib/systemd/system/vigil.service; echo "unit: verified"
grep -E '^(ExecStart|DynamicUser|User|Group)=' /lib/systemd/system/vigil.service
mkdir -p /var/lib/vigil/results && echo '{}' > /var/lib/vigil/results/camera.jsonl
apt-get remove -y -qq vigil >/dev/null
echo "after remove: data $(test -f /var/lib/vigil/results/camera.jsonl && echo kept || echo gone), venv $(test -e /opt/vigil && echo kept || echo gone), config $(test -f /etc/vigil/vigil.yaml && echo kept || echo gone)"
apt-get purge -y -qq vigil >/dev/null
echo "after purge: data $(test -e /var/lib/vigil && echo kept || echo gone), config $(test -e /etc/vigil/vigil.yaml && echo kept || echo gone)"
"""


@pytest.fixture(scope="module")
def deb() -> Path:
    started = time.monotonic()
    script("packaging/deb/build.sh", timeout=1800)
    version = re.search(r'^version = "(.*)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version is not None
    built = sorted((ROOT / "dist").glob(f"vigil_{version[1]}_*.deb"))
    assert len(built) == 1, built
    print(f"{built[0].name}: {built[0].stat().st_size / 1e6:.0f} MB, built in {time.monotonic() - started:.0f} s")
    return built[0]


def test_the_package_installs_checks_verifies_and_removes_as_debian_does(deb: Path) -> None:
    proc = podman(
        "run", "--rm", *LIMITS, "--network", "host", "-v", f"{deb.parent}:/dist:ro", "-e", f"DEB={deb.name}",
        BASE, "bash", "-c", STEPS, timeout=900, check=False,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-3000:]}\n{proc.stderr[-3000:]}"
    out += "\n" + proc.stderr  # systemd-analyze's and vigil's complaints, for the messages below
    assert re.search(r"^version: vigil \d", out, re.M), out
    assert "owner: vigil 750 /usr/sbin/nologin" in out, out
    assert "checked: yes" in out and "/etc/vigil/vigil.yaml" in out.split("conffiles:")[1], out
    assert "unit: verified" in out and "ExecStart=/usr/bin/vigil run /etc/vigil/vigil.yaml" in out, out
    assert "DynamicUser=no" in out and "User=vigil" in out and "Group=vigil" in out, out
    assert "after remove: data kept, venv gone, config kept" in out, out
    assert "after purge: data gone, config gone" in out, out
