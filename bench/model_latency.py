"""`model(image)` latency against raw `session.run` on an already pre-processed tensor, batch 1,
same session options, same run. Prints the pre + post overhead as a share of the raw model time
(target for YOLO at 640: <= 15%).

    python bench/model_latency.py                     # nudenet YOLOv8n at 640 (+ PP-OCR if importable)
"""

from __future__ import annotations

import argparse
import importlib.resources
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.engine import AutoModel
from vigil.errors import VigilError


def photo(size: tuple[int, int]) -> np.ndarray:
    try:
        import skimage.data

        img = skimage.data.astronaut()[:, :, ::-1]
    except ImportError:
        img = np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8)
    return cv2.resize(np.ascontiguousarray(img), size)


def text_scene() -> np.ndarray:
    """A 1280x720 photo with a few lines of text on it."""
    img = photo((1280, 720))
    for i, line in enumerate(["KA 01 AB 1234", "EXIT 12 NORTH", "OPEN 24 HOURS"]):
        cv2.putText(img, line, (60, 120 + 200 * i), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (255, 255, 255), 5, cv2.LINE_AA)
    return img


def median_ms(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def bench_yolo(path: str, image_size: int, frame: np.ndarray, repeat: int) -> dict[str, float]:
    model = AutoModel.from_pretrained(path, image_size=image_size)
    prepared = model.pre_process([frame])
    raw = model.forward(prepared)
    session, name = model._session, model._input_name  # the raw baseline bypasses vigil on purpose
    full = median_ms(lambda: model([frame]), repeat)
    raw_ms = median_ms(lambda: session.run(None, {name: prepared.tensor}), repeat)
    pre = median_ms(lambda: model.pre_process([frame]), repeat)
    post = median_ms(lambda: model.post_process(raw, prepared), repeat)
    return {"model_ms": full, "raw_ms": raw_ms, "pre_ms": pre, "post_ms": post}


def bench_ocr_detector(frame: np.ndarray, repeat: int) -> dict[str, Any] | None:
    """The PP-OCR text detector alone: pre-process (resize, normalise), raw session.run, and the
    DB post-process (boxes, unclip, order)."""
    try:
        from vigil.cli.models import _installed_rapidocr
        from vigil.engine.developer_tools import import_rapidocr
        from vigil.engine.models.ppocr import _detection as det
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            root = import_rapidocr(_installed_rapidocr(), Path(tmp) / "ppocr", Path(tmp))
            model = AutoModel.from_pretrained(root)
        except (ImportError, VigilError):
            return None
    prepared = model.pre_process([frame])
    tensor, plan = prepared.tensor[0], prepared.meta[0]
    session = model._sessions["det"]  # the raw baseline bypasses vigil on purpose
    name = session.get_inputs()[0].name
    prob = session.run(None, {name: tensor})[0][0, 0]
    h, w = plan.image.shape[:2]

    def post() -> None:
        det.reading_order(det.tidy_boxes(det.find_boxes(prob, h, w, model._det), h, w))

    return {
        "raw_ms": median_ms(lambda: session.run(None, {name: tensor}), repeat),
        "pre_ms": median_ms(lambda: model.pre_process([frame]), repeat),
        "post_ms": median_ms(post, repeat),
        "input": f"{tensor.shape[3]}x{tensor.shape[2]}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(importlib.resources.files("nudenet") / "320n.onnx"))
    parser.add_argument("--image-size", type=int, default=640)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    for w, h in ((640, 480), (1280, 720)):
        r = bench_yolo(args.model, args.image_size, photo((w, h)), args.repeat)
        overhead = (r["pre_ms"] + r["post_ms"]) / r["raw_ms"]
        print(
            f"YOLO {Path(args.model).name} @{args.image_size}, {w}x{h} frame, batch 1: model(image) {r['model_ms']:.1f} ms, "
            f"raw session.run {r['raw_ms']:.1f} ms, pre {r['pre_ms']:.2f} ms + post {r['post_ms']:.2f} ms "
            f"= {overhead:.1%} of raw"
        )
    ocr = bench_ocr_detector(text_scene(), max(5, args.repeat // 3))
    if ocr is not None:
        print(
            f"PP-OCR detector, 1280x720 frame with text (input {ocr['input']}): raw {ocr['raw_ms']:.1f} ms, "
            f"pre {ocr['pre_ms']:.2f} ms + post {ocr['post_ms']:.2f} ms "
            f"= {(ocr['pre_ms'] + ocr['post_ms']) / ocr['raw_ms']:.1%} of raw"
        )


if __name__ == "__main__":
    main()
