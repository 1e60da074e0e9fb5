"""Events searchable by text and by likeness (`search:` in the YAML).

Each event's picture of its object (the frame it happened on, cropped to the object's box with a
margin) is embedded with an image-text embedding model (`vigil.engine.EmbeddingModel`, e.g. a
CLIP `hf` package) and kept with the event's record; with `describe`, a vision-language model
(e.g. BLIP) writes a one-line `description` of the picture, kept and shown with it too:

    GET /api/v1/events/search?q=red+car      events ranked by how well their pictures match the text
    GET /api/v1/events/search?like=EVENT_ID  events ranked by how alike they look to that one's
                                             (&source= &type= &limit=, default 20; each with its score)

`EventSearch` is a `PipelineObserver`: `events()` runs on the event loop and only queues the
crops (a bounded queue: when the embedder falls behind, the oldest waiting events are dropped and
counted, the pipeline never waits). A task embeds them in batches on a thread and stores them.

The store (`VectorStore`) is one SQLite file (the records and float32 vectors, kept across
restarts) and the same vectors as one numpy matrix in memory, searched exactly with one matrix
product. At the sizes a box keeps (`max_events`, 100,000 by default: 512-dimension vectors are
200 MB at most, a query ~20 ms) exact search needs no approximate index, so no vector library is
added: sqlite3 is in Python's standard library.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.errors import ConfigError
from vigil.pipeline.observer import PipelineObserver
from vigil.redact import mask_url
from vigil.sinks.files import FILE_MODE, make_dirs

if TYPE_CHECKING:
    from vigil.config.search import SearchConfig
    from vigil.engine import EmbeddingModel, VisionLanguageModel
    from vigil.events import Event

__all__ = ["EventSearch", "VectorStore", "crop", "load_search"]

log = logging.getLogger(__name__)

_QUEUE = 512  # events waiting to be embedded, at most


class VectorStore:
    """Event records and their unit vectors: SQLite on disk, a matrix in memory. Thread-safe."""

    def __init__(self, path: str, dimension: int, max_events: int) -> None:
        self.dimension, self.max_events = dimension, max_events
        self._lock = threading.Lock()
        try:
            _create_private(path)
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS events (n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, "
                "source TEXT, type TEXT, record TEXT, vector BLOB)"
            )
            rows = self._db.execute("SELECT id, record, vector FROM events ORDER BY n").fetchall()
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(f"search.database {path}: cannot use it ({exc}); give a writable file or move it away") from None
        kept = [(i, r, v) for i, r, v in rows if len(v) == dimension * 4]
        if len(kept) < len(rows):  # vectors of another model: useless with this one
            log.warning(
                "search: %d stored event(s) were embedded by a model of another size; they are not searchable",
                len(rows) - len(kept),
            )
        self._ids = [i for i, _, _ in kept]
        self._records = [json.loads(r) for _, r, _ in kept]
        self._buf = np.frombuffer(b"".join(v for _, _, v in kept), np.float32).reshape(len(kept), dimension).copy()
        self._n = len(kept)

    def __len__(self) -> int:
        return self._n

    @property
    def _matrix(self) -> np.ndarray:
        return self._buf[: self._n]

    def add(self, records: Sequence[dict[str, Any]], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, np.float32)
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO events (id, source, type, record, vector) VALUES (?, ?, ?, ?, ?)",
                [(r["id"], r.get("source"), r.get("type"), json.dumps(r), v.tobytes()) for r, v in zip(records, vectors)],
            )
            known = {i: n for n, i in enumerate(self._ids)}
            for record, vector in zip(records, vectors):
                at = known.get(record["id"])  # the same event embedded twice: kept once, as the newer
                if at is None:
                    at = self._grow()
                    self._ids.append(record["id"])
                    self._records.append(record)
                self._buf[at] = vector
                self._records[at] = record
            self._forget_oldest()
            self._db.commit()

    def _grow(self) -> int:
        """The index of a new row, growing the buffer by doubling (amortised O(1) per event)."""
        if self._n == len(self._buf):
            bigger = np.zeros((max(64, 2 * len(self._buf)), self.dimension), np.float32)
            bigger[: self._n] = self._buf[: self._n]
            self._buf = bigger
        self._n += 1
        return self._n - 1

    def _forget_oldest(self) -> None:
        """Past `max_events` (plus a tenth, so rows move rarely), the oldest go."""
        excess = self._n - self.max_events
        if excess <= self.max_events // 10:
            return
        self._db.execute("DELETE FROM events WHERE n IN (SELECT n FROM events ORDER BY n LIMIT ?)", (excess,))
        del self._ids[:excess], self._records[:excess]
        self._buf = self._buf[excess : self._n].copy()
        self._n -= excess

    def vector(self, event_id: str) -> np.ndarray | None:
        with self._lock:
            try:
                return self._matrix[self._ids.index(event_id)].copy()
            except ValueError:
                return None

    def rank(
        self, query: np.ndarray, limit: int, source: str | None = None, kind: str | None = None, first: str | None = None
    ) -> list[dict[str, Any]]:
        """The records most like `query` (a unit vector), best first, each with its `score` (cosine);
        among equal scores the event `first` (the one searched like) leads, then the oldest."""
        with self._lock:
            scores = self._matrix @ np.asarray(query, np.float32) if self._n else np.empty(0, np.float32)
            others = np.array([i != first for i in self._ids], bool)
            order = np.lexsort((others, -scores))
            out: list[dict[str, Any]] = []
            for n in order:
                record = self._records[n]
                if (source and record.get("source") != source) or (kind and record.get("type") != kind):
                    continue
                out.append({**record, "score": round(float(scores[n]), 6)})
                if len(out) >= limit:
                    break
            return out

    def close(self) -> None:
        with self._lock:
            self._db.close()


def crop(image: np.ndarray, box: tuple[float, float, float, float] | None, pad: float) -> np.ndarray:
    """The object's box in `image` grown by `pad` of its size on each side, clipped (the whole
    image without a box)."""
    if box is None:
        return image
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * pad, (y2 - y1) * pad
    left, top = max(0, int(x1 - dx)), max(0, int(y1 - dy))
    right, bottom = min(w, int(np.ceil(x2 + dx))), min(h, int(np.ceil(y2 + dy)))
    if right - left < 2 or bottom - top < 2:
        return image
    return image[top:bottom, left:right]


class EventSearch(PipelineObserver):
    """Embeds events as they come and answers searches (`start()` on the loop, `close()` at the end)."""

    def __init__(
        self, model: EmbeddingModel, store: VectorStore, config: SearchConfig, describer: VisionLanguageModel | None = None
    ) -> None:
        self.model, self.store, self.config, self.describer = model, store, config, describer
        self.embedded = 0
        self.dropped = 0  # events not embedded because the embedder was behind
        self._waiting: deque[tuple[dict[str, Any], np.ndarray]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._embedding = 0  # batches on the thread now

    def events(self, events: Sequence[Event]) -> None:
        for event in events:
            if event.frame is None:
                continue
            if len(self._waiting) >= _QUEUE:
                self._waiting.popleft()
                self.dropped += 1
            self._waiting.append((event.to_record(), crop(event.frame.image, event.box, self.config.pad)))
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._embed_forever(), name="event-search")

    async def _embed_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                batch = [self._waiting.popleft() for _ in range(min(self.config.batch, len(self._waiting)))]
                self._embedding += 1
                try:
                    await asyncio.to_thread(self._embed, batch)
                except Exception:  # one bad batch must not end search for good
                    log.exception("search: embedding %d event(s) failed; they are not searchable", len(batch))
                finally:
                    self._embedding -= 1

    def _embed(self, batch: list[tuple[dict[str, Any], np.ndarray]]) -> None:
        vectors = self.model.embed_images([image for _, image in batch])
        records = [record for record, _ in batch]
        if self.describer is not None:  # one line per event, written from its picture
            records = [
                {**record, "description": self.describer.prompt(image, self.config.describe_prompt)} for record, image in batch
            ]
        self.store.add(records, vectors)
        self.embedded += len(batch)

    async def idle(self) -> None:
        """Until every event handed over so far is embedded and stored."""
        while self._waiting or self._embedding:  # noqa: ASYNC110 - the counts change on the worker thread
            await asyncio.sleep(0.02)

    async def by_text(self, text: str, limit: int, source: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        query = (await asyncio.to_thread(self.model.embed_texts, [text]))[0]
        return await asyncio.to_thread(self.store.rank, query, limit, source, kind)

    async def like(
        self, event_id: str, limit: int, source: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]] | None:
        query = self.store.vector(event_id)
        if query is None:
            return None
        return await asyncio.to_thread(self.store.rank, query, limit, source, kind, event_id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self.store.close)
        await asyncio.to_thread(self.model.close)
        if self.describer is not None:
            await asyncio.to_thread(self.describer.close)


async def load_search(config: SearchConfig, state_dir: Path | None) -> EventSearch:
    """The search of `config`: its embedding model loaded (off the loop) and its store opened
    (`database`, else `events-search.sqlite` in `state_dir`, else in memory)."""
    from vigil.engine import AutoModel, EmbeddingModel

    model = await asyncio.to_thread(AutoModel.from_pretrained, config.model)
    if not isinstance(model, EmbeddingModel):
        model.close()
        raise ConfigError(
            f"search.model {mask_url(config.model)} is a {type(model).__name__}, not an embedding model; "
            "give an image-text embedding model such as a CLIP hf package"
        )
    path = config.database or (str(state_dir / "events-search.sqlite") if state_dir is not None else ":memory:")
    if state_dir is not None and config.database is None:
        await asyncio.to_thread(make_dirs, state_dir)
    try:
        store = await asyncio.to_thread(VectorStore, path, model.dimension, config.max_events)
    except ConfigError:
        model.close()
        raise
    try:
        describer = await _describer(config) if config.describe else None
    except Exception:
        store.close()
        model.close()
        raise
    log.info("search: %s, %d event(s) searchable in %s", model.model_id, len(store), path)
    return EventSearch(model, store, config, describer)


async def _describer(config: SearchConfig) -> VisionLanguageModel:
    from vigil.engine import AutoModel, VisionLanguageModel

    assert config.describe is not None
    model = await asyncio.to_thread(AutoModel.from_pretrained, config.describe)
    if not isinstance(model, VisionLanguageModel):
        model.close()
        raise ConfigError(
            f"search.describe {mask_url(config.describe)} is a {type(model).__name__}, not a "
            "vision-language model; give one such as a BLIP hf package, or remove describe"
        )
    return model


def _create_private(path: str) -> None:
    """Create the database file 0640 (SQLite gives its journals the file's mode) unless it
    exists; a symbolic link there is refused, not followed."""
    if path == ":memory:":
        return
    if os.path.islink(path):
        raise OSError(errno.ELOOP, "a symbolic link; the search store is never opened through one", path)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), FILE_MODE))
