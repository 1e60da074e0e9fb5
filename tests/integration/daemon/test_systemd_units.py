"""The unit files in systemd/: hardening present (pure Python), and `systemd-analyze verify` clean
when systemd is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
UNITS = REPO / "systemd"
VIGIL_BIN = Path(sys.executable).with_name("vigil")
# The instance-specific lines of the template; everything else must match vigil.service.
INSTANCE_KEYS = {"Description", "ExecStart", "StateDirectory", "WorkingDirectory"}

Unit = dict[str, dict[str, list[str]]]


def parse_unit(path: Path) -> Unit:
    """Sections -> key -> every value assigned, in order (a key may repeat; `Key=` is an empty value).
    configparser cannot keep repeated keys, which systemd uses for lists."""
    unit: Unit = {}
    section: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert not line.endswith("\\"), f"{path.name}: keep unit lines unwrapped for this parser: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {line}"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


HARDENING = {
    "DynamicUser": "yes",
    "StateDirectory": None,
    "CacheDirectory": "vigil",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "SystemCallFilter": "@system-service",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "PrivateDevices": "yes",
}
LIFECYCLE = {
    "Type": "notify",
    "NotifyAccess": "main",
    "WatchdogSec": "30",
    "Restart": "on-failure",
    "RestartSec": "5",
    "TimeoutStartSec": "300",
    "ExecReload": "/bin/kill -HUP $MAINPID",
    "Environment": None,  # several lines: checked below
}


@pytest.fixture(params=["vigil.service", "vigil@.service"])
def unit_path(request: pytest.FixtureRequest) -> Path:
    return UNITS / request.param


def test_unit_sets_the_lifecycle_and_every_hardening_key(unit_path: Path) -> None:
    service = parse_unit(unit_path)["Service"]
    for key, expected in {**LIFECYCLE, **HARDENING}.items():
        assert key in service, f"{unit_path.name}: {key}= missing"
        if expected is not None:
            assert service[key] == [expected], f"{unit_path.name}: {key}={service[key]}"
    # The model cache's home, and two malloc arenas (RSS stays flat as streams come and go: bench/soak.py).
    assert sorted(service["Environment"]) == ["MALLOC_ARENA_MAX=2", "VIGIL_HOME=%C/vigil"]
    # Left out on purpose, with the reason in the unit: see its comments.
    assert "MemoryDenyWriteExecute" not in service
    assert "DeviceAllow" not in service
    assert service.get("TimeoutStartSec") != ["infinity"]


def test_single_unit_and_template_paths() -> None:
    single = parse_unit(UNITS / "vigil.service")["Service"]
    template = parse_unit(UNITS / "vigil@.service")["Service"]
    assert single["ExecStart"] == ["/usr/local/bin/vigil run /etc/vigil/vigil.yaml"]
    assert single["StateDirectory"] == ["vigil"]
    assert template["ExecStart"] == ["/usr/local/bin/vigil run /etc/vigil/%i.yaml"]
    assert template["StateDirectory"] == ["vigil/%i"]


def test_template_matches_the_single_unit_but_for_the_instance_lines() -> None:
    single, template = parse_unit(UNITS / "vigil.service"), parse_unit(UNITS / "vigil@.service")
    assert single.keys() == template.keys()
    for name in single:
        drop = INSTANCE_KEYS if name in ("Unit", "Service") else set()
        ours = {k: v for k, v in single[name].items() if k not in drop}
        theirs = {k: v for k, v in template[name].items() if k not in drop}
        assert ours == theirs, f"[{name}] differs between vigil.service and vigil@.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("name", ["vigil.service", "vigil@.service", "vigil@cam-north.service"])
def test_systemd_analyze_verify_is_clean(name: str, tmp_path: Path) -> None:
    # verify checks that ExecStart's binary exists: point it at this venv's vigil script.
    assert VIGIL_BIN.exists(), f"{VIGIL_BIN} missing: install vigil into the venv (make install)"
    source = UNITS / ("vigil@.service" if "@" in name else name)
    text = source.read_text().replace("ExecStart=/usr/local/bin/vigil ", f"ExecStart={VIGIL_BIN} ")
    assert str(VIGIL_BIN) in text
    (tmp_path / name).write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / name)], capture_output=True, text=True, timeout=60)
    output = (done.stdout + done.stderr).strip()
    # Only lines about our unit count: verify also loads the host's units it depends on.
    ours = [line for line in output.splitlines() if name in line or str(tmp_path) in line]
    assert done.returncode == 0 and not ours, output
