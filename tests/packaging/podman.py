"""Running Debian's podman from the packaging tests: as root, with runc and cgroupfs (crun refuses
this kind of machine's cgroups), modest rlimits for the containers (the defaults exceed the hard
limits here), the image and the .deb built once per test session by the project's own scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GLOBAL = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"] if shutil.which("runc") else []
LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
IMAGE = "vigil-test:latest"
BASE = "debian:bookworm-slim"


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["podman", *GLOBAL, *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, (
            f"podman {' '.join(args)}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def script(path: str, timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    """One of packaging/*.sh, from the checkout, as `make image` / `make deb` run it."""
    environment = {**os.environ, "PODMAN_ARGS": " ".join(GLOBAL), **env}
    proc = subprocess.run(["bash", path], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{path}: exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc
