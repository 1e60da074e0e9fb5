"""vigil installs from this repository under a distribution name of its own (`vigil` on PyPI is an
unrelated project), with the `vigil` command and import name."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_wheel_built_from_the_checkout_installs_the_vigil_command(tmp_path):
    # A copy: setuptools writes build/ and *.egg-info beside the sources it builds.
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "tests"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    assert wheel.name.startswith("vigil_analytics-")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        metadata = email.message_from_bytes(z.read(meta))
    assert metadata["Name"] == "vigil-analytics"
    assert "vigil = vigil.cli.main:main" in entry_points
    assert "vigil/cli/main.py" in names and not any(n.startswith("tests/") for n in names)
    # The web console's files travel in the wheel: a pip-installed daemon serves its pages.
    assert {
        "vigil/api/console/static/index.html",
        "vigil/api/console/static/app.js",
        "vigil/api/console/static/style.css",
    } <= set(names)

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    version = subprocess.run(
        [str(target / "bin" / "vigil"), "--version"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert version.returncode == 0 and version.stdout.startswith("vigil "), version.stderr


def test_the_install_docs_never_say_pip_install_vigil():
    for doc in [REPO / "README.md", REPO / "systemd" / "README.md", *(REPO / "docs").glob("*.md")]:
        for line in doc.read_text(encoding="utf-8").splitlines():
            words = line.split("pip install", 1)
            first = words[1].split()[0] if len(words) == 2 and words[1].split() else ""
            assert first.strip("'\"").split("[")[0] != "vigil", f"{doc.name}: {line}"
