"""A third-party distribution adds kinds through the `vigil.kinds` entry point group: built and
installed by pip into a directory on the path, then found by a fresh vigil with nothing else
told. Its sink and stage validate, pass `vigil check` and run in a real pipeline; a broken
plugin is reported by its distribution's name and leaves vigil working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ECHO = '''
"""A plugin of two kinds: the `echo` sink (lines in a file) and the `tag` stage."""
import dataclasses
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from vigil.catalog import SecretFile, SinkKind, StageKind
from vigil.sinks.base import Sink
from vigil.stages.base import Stage


class EchoConfig(BaseModel):
    """Writes one line per result and per event."""

    model_config = ConfigDict(extra="forbid")
    path: str
    key_file: str | None = None


class EchoSink(Sink):
    def __init__(self, config, context):
        self.path = Path(config.path)
        self.lines = [f"echo {context.name}"]

    async def publish(self, result):
        self.lines.append(f"result {result.frame.source_id} {result.model_id}")

    async def publish_event(self, event):
        self.lines.append("event")

    async def flush(self):
        self.path.write_text("\\n".join(self.lines) + "\\n")

    async def close(self):
        await self.flush()


class TagConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = "tagged"


class TagStage(Stage):
    def __init__(self, config, context):
        self.label = config.label

    def process(self, result):
        return dataclasses.replace(result, model_id=f"{result.model_id}+{self.label}")


KINDS = [SinkKind("echo", EchoConfig, "vigil_echo:EchoSink", takes_events=True,
                  secret_files=(SecretFile("key_file", "the echo key"),))]


def declare(catalog):
    catalog.stages.register("tag", TagConfig, TagStage)
'''

BROKEN = """
from vigil.catalog import SinkKind


def declare(catalog):
    catalog.sinks.register("half", "vigil.config.sinks:JsonlSinkConfig", "vigil.sinks.jsonl:make_jsonl_sink")
    raise RuntimeError("the broken plugin broke")
"""


def _distribution(root: Path, name: str, module: str, code: str, entry_points: str) -> Path:
    root.mkdir()
    (root / f"{module}.py").write_text(textwrap.dedent(code))
    (root / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "0.1"

        [tool.setuptools]
        py-modules = ["{module}"]

        [project.entry-points."vigil.kinds"]
        {entry_points}
    """)
    )
    return root


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both distributions, installed by pip into one directory (put on PYTHONPATH by `run`)."""
    base = tmp_path_factory.mktemp("plugins")
    target = base / "site"
    echo = _distribution(base / "echo", "vigil-echo", "vigil_echo", ECHO, 'echo = "vigil_echo:KINDS"\ntag = "vigil_echo:declare"')
    broken = _distribution(base / "broken", "vigil-broken", "vigil_broken", BROKEN, 'broken = "vigil_broken:declare"')
    for project in (echo, broken):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "--target",
                str(target),
                str(project),
            ],
            check=True,
            timeout=300,
            capture_output=True,
        )
    assert sorted(p.name for p in target.glob("*.dist-info")) == ["vigil_broken-0.1.dist-info", "vigil_echo-0.1.dist-info"]
    return target


def run(plugins: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=Path(__file__).parents[3]
    )


def config(tmp_path: Path, model: Path, clip: Path, sink: str) -> Path:
    path = tmp_path / "vigil.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        model:
          path: {model}
        sources:
          - name: cam
            url: {clip}
            stages:
              - kind: tag
                label: seen
        sinks:
          - {sink}
    """)
    )
    return path


def test_a_plugins_sink_and_stage_pass_vigil_check(plugins, tmp_path, nudenet_path, clips):
    (tmp_path / "key").write_text("k3y\n")
    path = config(
        tmp_path, nudenet_path, clips["coffee"], f"{{kind: echo, path: {tmp_path / 'out.txt'}, key_file: {tmp_path / 'key'}}}"
    )
    proc = run(plugins, "-m", "vigil", "check", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "sinks: echo" in proc.stdout
    assert "plugin 'broken = vigil_broken:declare' of distribution 'vigil-broken 0.1' was not loaded" in proc.stdout


def test_a_plugin_kinds_secret_file_is_checked_at_load(plugins, tmp_path, nudenet_path, clips):
    path = config(tmp_path, nudenet_path, clips["coffee"], f"{{kind: echo, path: out.txt, key_file: {tmp_path / 'none'}}}")
    proc = run(plugins, "-m", "vigil", "check", str(path))
    assert proc.returncode != 0
    assert "sinks[0].key_file" in proc.stderr and "no such file" in proc.stderr


def test_a_plugins_sink_and_stage_run_in_a_real_pipeline(plugins, tmp_path, nudenet_path, clips):
    out = tmp_path / "out.txt"
    path = config(tmp_path, nudenet_path, clips["coffee"], f"{{kind: echo, name: mine, path: {out}}}")
    script = textwrap.dedent(f"""\
        import asyncio
        from pathlib import Path
        from vigil.config.loader import load_config
        from vigil.daemon.assemble import build_pipeline

        async def main():
            pipeline = await build_pipeline(load_config(Path({str(path)!r})))
            await pipeline.run()

        asyncio.run(main())
    """)
    proc = run(plugins, "-c", script)
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "echo mine"
    results = lines[1:]
    assert len(results) == 18  # every frame of the clip, through the plugin's stage into its sink
    assert all(line.startswith("result cam ") and line.endswith("+seen") for line in results)


def test_a_broken_plugin_is_named_its_kinds_are_missing_and_the_rest_works(plugins, tmp_path):
    script = textwrap.dedent("""\
        import json, logging
        logging.basicConfig(level=logging.ERROR, format="LOG %(message)s")
        from vigil.catalog import CATALOG
        print(json.dumps({"sinks": CATALOG.sinks.names(), "stages": CATALOG.stages.names(),
                          "failures": [f.distribution for f in CATALOG.failures],
                          "origin": CATALOG.sinks.get("echo").origin}))
    """)
    proc = run(plugins, "-c", script)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert "half" not in found["sinks"]  # declared before the plugin raised: undone
    assert found["sinks"][-1] == "echo" and "jsonl" in found["sinks"] and found["stages"][-1] == "tag"
    assert found["failures"] == ["vigil-broken 0.1"] and found["origin"] == "vigil-echo 0.1"
    assert "distribution 'vigil-broken 0.1' was not loaded: RuntimeError: the broken plugin broke" in proc.stderr
    assert "kinds left out: half" in proc.stderr


def test_a_config_naming_a_missing_plugins_kind_is_refused_naming_the_failed_plugin(plugins, tmp_path, nudenet_path, clips):
    path = config(tmp_path, nudenet_path, clips["coffee"], "{kind: half, path: out.jsonl}")
    proc = run(plugins, "-m", "vigil", "check", str(path))
    assert proc.returncode != 0
    assert "sinks[0].kind: unknown sink kind (known: jsonl" in proc.stderr
    assert "distribution 'vigil-broken 0.1' was not loaded" in proc.stderr
