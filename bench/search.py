"""Event search's costs on this CPU (issue 21): embedding event pictures, and ranking the store.

No weights can be downloaded here, so the embedding model is a CLIP built from transformers'
default `CLIPConfig` (ViT-B/32 sized: 12 + 12 layers, 512 wide, 224x224 input; about 150M
parameters) with random weights, saved as a folder and loaded by vigil as an `hf` package: its
arithmetic is that of the real ViT-B/32, so the throughput is what a real one would give.

Measured:
- embedding throughput (images/s) of event pictures (crops of 640x480 frames) through
  `EventSearch`, the path the daemon takes (queue, batches on a thread, SQLite), at batch 1 and
  at the default batch of 8;
- `model.embed_images` alone at batch 1 and 8 (no store);
- a text query's latency (`embed_texts` + ranking) against stores of 10,000 and 100,000 events.

    python bench/search.py                 # 32 events, 2 torch threads
    python bench/search.py --events 64 --threads 2 --json figures.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what vigil sets when it imports torch itself
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from tests.conftest import photo  # noqa: E402
from vigil.config.search import SearchConfig  # noqa: E402
from vigil.engine import AutoModel, EmbeddingModel  # noqa: E402
from vigil.events import Event  # noqa: E402
from vigil.frame import Frame  # noqa: E402
from vigil.store.search import EventSearch, VectorStore  # noqa: E402

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


def vit_b32(folder: Path) -> Path:
    """A ViT-B/32-sized CLIP with random weights and a tiny tokenizer, saved with its processor."""
    import torch
    import transformers

    from tests.support.tiny_hf import clip_tokenizer

    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    config = transformers.CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        }
    )
    transformers.CLIPModel(config).eval().save_pretrained(folder)
    transformers.CLIPProcessor(image_processor=transformers.CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(folder)
    return folder


def events(n: int) -> list[Event]:
    frames = [cv2_resize(photo(name)) for name in ("astronaut", "coffee", "chelsea", "rocket")]
    out = []
    for i in range(n):
        image = frames[i % len(frames)]
        x, y = 40 + (i * 37) % 300, 30 + (i * 23) % 200
        frame = Frame("door", i, i / 10, T0, image)
        out.append(
            Event("zone_enter", "door", i, "person", 0, T0, i, box=(x, y, x + 200.0, y + 240.0), frame=frame, zone="porch")
        )
    return out


def cv2_resize(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(image, (640, 480))


async def through_search(model: EmbeddingModel, batch: int, evs: list[Event], workdir: Path) -> float:
    store = VectorStore(str(workdir / f"s{batch}.sqlite"), model.dimension, 100_000)
    search = EventSearch(model, store, SearchConfig(model="bench", batch=batch))
    search.start()
    start = time.perf_counter()
    search.events(evs)
    await search.idle()
    took = time.perf_counter() - start
    search._task.cancel()  # type: ignore[union-attr]  # not close(): the model is shared between runs
    store.close()
    return len(evs) / took


def embed_alone(model: EmbeddingModel, batch: int, evs: list[Event], runs: int = 5) -> float:
    crops = [e.frame.image[int(e.box[1]) : int(e.box[3]), int(e.box[0]) : int(e.box[2])] for e in evs[:batch]]  # type: ignore[index,union-attr]
    model.embed_images(crops)  # warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model.embed_images(crops)
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def query_ms(model: EmbeddingModel, size: int, runs: int = 10) -> float:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((size, model.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = VectorStore(str(Path(tmp) / "q.sqlite"), model.dimension, size)
        store.add([{"id": f"e{i}", "source": "door", "type": "zone_enter"} for i in range(size)], vectors)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            store.rank(model.embed_texts(["a red car"])[0], 20)
            times.append(time.perf_counter() - start)
        store.close()
    return statistics.median(times) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=32, help="event pictures embedded per measurement")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = vit_b32(Path(tmp) / "clip")
        model = AutoModel.from_pretrained(str(folder), intra_op_threads=args.threads)
        assert isinstance(model, EmbeddingModel)
        evs = events(args.events)
        figures: dict[str, Any] = {"model": "CLIP ViT-B/32 shape, random weights", "threads": args.threads}
        for batch in (1, 8):
            figures[f"embed_images_per_s_b{batch}"] = round(embed_alone(model, batch, evs), 2)
            figures[f"event_search_per_s_b{batch}"] = round(asyncio.run(through_search(model, batch, evs, Path(tmp))), 2)
        for size in (10_000, 100_000):
            figures[f"text_query_ms_{size}"] = round(query_ms(model, size), 2)
        model.close()
    for key, value in figures.items():
        print(f"{key:>28}: {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
