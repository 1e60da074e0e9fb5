"""An RT-DETR-R18-sized detector through transformers (`hf` package) vs its ONNX export
(`vigil models export --to onnx`) on onnxruntime, same threads, this CPU (issue 30).

The model has random weights but real shapes: `RTDetrConfig`'s defaults (hybrid encoder of
width 256, 6-layer decoder... as in PekingU/rtdetr_r18vd: 3 decoder layers, 300 queries, 80
classes) with a ResNet-18-like backbone (basic blocks, depths 2-2-2-2, widths 64-512), at the
processor's 640x640. Random init gives every encoder position the same score (zero-initialised
heads); every weight is moved a little (seeded), but at this size the encoder's scores still
tie (a min gap of 0 among the best 300 of 8400 here), so the export is not compared with torch
(`verify=False`): onnxruntime and torch break the ties differently, which changes which queries run
but not how long they take.

Measured, in rounds that alternate the two packages so that a shared machine's drift lands on
both: the median of `--runs` calls of `forward` at batch 1 and at batch 4 (images/s), and of the
whole `model([image])` (pre-processing + forward + post-processing) at batch 1.

    python bench/detr_export.py                       # 2 threads, 10 rounds
    python bench/detr_export.py --threads 2 --runs 20 --json figures.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what vigil sets when it imports torch itself
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.conftest, run from anywhere

import torch  # noqa: E402
import transformers  # noqa: E402

from tests.conftest import photo  # noqa: E402
from vigil.engine import AutoModel  # noqa: E402
from vigil.engine.developer_tools import ExportRequest, export_onnx  # noqa: E402


def build_r18(folder: Path, seed: int = 0) -> Path:
    """A random-weight RT-DETR with R18's shapes, saved with its 640x640 processor."""
    torch.manual_seed(seed)
    backbone = transformers.RTDetrResNetConfig(
        embedding_size=64,
        hidden_sizes=[64, 128, 256, 512],
        depths=[2, 2, 2, 2],
        layer_type="basic",
        out_features=["stage2", "stage3", "stage4"],
    )
    labels = {i: f"class_{i}" for i in range(80)}
    config = transformers.RTDetrConfig(
        backbone_config=backbone,
        encoder_in_channels=[128, 256, 512],
        decoder_layers=3,
        num_labels=80,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    model = transformers.RTDetrForObjectDetection(config).eval()
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.05)
    model.save_pretrained(folder)
    transformers.RTDetrImageProcessor(size={"height": 640, "width": 640}).save_pretrained(folder)
    return folder


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(models: dict[str, Any], images: list[Any], runs: int) -> dict[str, dict[str, float]]:
    one, four = images[:1], images[:4]
    prepared = {name: (m.pre_process(one), m.pre_process(four)) for name, m in models.items()}
    samples: dict[str, dict[str, list[float]]] = {name: {"b1": [], "b4": [], "call": []} for name in models}
    for name, m in models.items():  # warm-up
        m.forward(prepared[name][0])
        m(one)
    for round_ in range(runs):
        order = list(models) if round_ % 2 == 0 else list(reversed(models))
        for name in order:
            m, (p1, p4) = models[name], prepared[name]
            samples[name]["b1"].append(timed(lambda: m.forward(p1)))
            samples[name]["b4"].append(timed(lambda: m.forward(p4)))
            samples[name]["call"].append(timed(lambda: m(one)))
        print(f"round {round_ + 1}/{runs}", file=sys.stderr, flush=True)
    return {
        name: {
            "forward_b1_ms": statistics.median(s["b1"]) * 1e3,
            "forward_b4_images_per_s": 4 / statistics.median(s["b4"]),
            "call_b1_ms": statistics.median(s["call"]) * 1e3,
        }
        for name, s in samples.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads (default 2)")
    parser.add_argument("--runs", type=int, default=10, help="rounds (default 10)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_r18(Path(tmp) / "rtdetr-r18")
        started = time.perf_counter()
        made = export_onnx(
            folder, ExportRequest(out=Path(tmp) / "rtdetr-r18-onnx", verify=False), progress=lambda m: print(m, file=sys.stderr)
        )
        export_s = time.perf_counter() - started
        options = {"confidence": 0.5, "intra_op_threads": args.threads}
        models = {"hf": AutoModel.from_pretrained(folder, **options), "onnx": AutoModel.from_pretrained(made.out, **options)}
        images = [photo(name) for name in ("astronaut", "coffee", "chelsea", "rocket")]
        figures = measure(models, images, args.runs)
    result = {
        "model": "RT-DETR, R18 shapes, random weights, 640x640",
        "threads": args.threads,
        "rounds": args.runs,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "export_s": round(export_s, 1),
        "figures": figures,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
