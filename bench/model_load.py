"""Model loading: cold (empty cache, local HTTP registry), warm (auto-resolution cache hit), and
the cost of `import vigil.engine` (which must not import onnxruntime).

    python bench/model_load.py            # the nudenet YOLOv8n packaged as a model directory
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.resources
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def package_model(onnx_path: Path, root: Path) -> Path:
    """A model directory with one dynamic-batch ONNX package, served as a registry."""
    folder = root / "yolov8n" / "onnx-dyn"
    folder.mkdir(parents=True)
    shutil.copyfile(onnx_path, folder / "model.onnx")
    digest = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
    (folder / "package.json").write_text(
        json.dumps(
            {
                "package_id": "onnx-dyn",
                "backend": "onnx",
                "batch": {"min": 1, "max": None},
                "onnx": {"opset": 17},
                "files": [{"name": "model.onnx", "sha256": digest, "size": (folder / "model.onnx").stat().st_size}],
            }
        )
    )
    names = [f"class{i}" for i in range(18)]
    (root / "yolov8n" / "model.json").write_text(
        json.dumps(
            {
                "model_id": "yolov8n",
                "architecture": "yolo",
                "task": "detect",
                "class_names": names,
                "input": {"size": [640, 640], "dynamic_size": True},
            }
        )
    )
    (root / "yolov8n" / "packages.json").write_text(json.dumps(["onnx-dyn"]))
    return root


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def timed_load(url: str, home: Path) -> float:
    code = (
        "import time, sys; t = time.perf_counter(); from vigil.engine import AutoModel; "
        "AutoModel.from_pretrained(sys.argv[1]); print(time.perf_counter() - t)"
    )
    env = {**os.environ, "VIGIL_HOME": str(home)}
    out = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def import_time() -> tuple[float, bool]:
    code = "import time, sys; t = time.perf_counter(); import vigil.engine; print(time.perf_counter() - t, 'onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), out[1] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(importlib.resources.files("nudenet") / "320n.onnx"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        served = package_model(Path(args.model), Path(tmp) / "served")
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/yolov8n"
        cold, warm = [], []
        for i in range(args.repeat):
            home = Path(tmp) / f"home{i}"
            cold.append(timed_load(url, home))
            warm.append(timed_load(url, home))
        server.shutdown()
    imports = [import_time() for _ in range(args.repeat)]
    size_mb = Path(args.model).stat().st_size / 1e6
    print(f"cold load (empty cache, {size_mb:.1f} MB over local HTTP): median {statistics.median(cold) * 1e3:.0f} ms")
    print(f"warm load (auto-resolution cache hit):              median {statistics.median(warm) * 1e3:.0f} ms")
    print(
        f"import vigil.engine: median {statistics.median(t for t, _ in imports) * 1e3:.0f} ms; "
        f"onnxruntime imported: {any(flag for _, flag in imports)}"
    )


if __name__ == "__main__":
    main()
