"""`vigil` with tracemalloc, for the soak's memory investigation only (bench/soak.py --tracemalloc DIR):
starts tracemalloc with `FRAMES` frames per trace, then a daemon thread dumps a snapshot to
DIR/snap-NNNN.pickle every INTERVAL seconds (and one at exit); vigil itself is unchanged and
pays nothing for this when run normally.

    python bench/_traced_vigil.py DIR INTERVAL run CONFIG
Compare the snapshots: python bench/_soak_tracemalloc.py DIR
"""

from __future__ import annotations

import atexit
import gc
import json
import sys
import threading
import time
import tracemalloc
import types
from pathlib import Path

FRAMES = 12


WATCHED = ("Frame", "InferenceResult", "Event", "VideoFrame", "VideoPlane", "RTSPSource", "StageChain", "ndarray")


def _describe(ref: object, held: object) -> str:
    if isinstance(ref, dict):
        keys = [repr(k)[:40] for k, v in ref.items() if v is held][:2]
        return f"dict[{','.join(keys)}]"
    return type(ref).__name__


def _thread_holding(*objs: object) -> str:
    for ident, top in sys._current_frames().items():
        frame: types.FrameType | None = top
        while frame is not None:
            if frame.f_code.co_filename != __file__ and any(v is o for v in frame.f_locals.values() for o in objs):
                name = next((t.name for t in threading.enumerate() if t.ident == ident), str(ident))
                return f"thread {name}: {frame.f_code.co_name} at {frame.f_code.co_filename}:{frame.f_lineno}"
            frame = frame.f_back
    return "(no thread's locals)"


def _holders(obj: object, ignore: set[int], depth: int = 6) -> str:
    """Who holds `obj`: a chain of referrers (type names; a dict's key), first referrer each time."""
    path, current, previous = [], obj, obj
    for _ in range(depth):
        refs = [
            r
            for r in gc.get_referrers(current)
            if id(r) not in ignore and not (isinstance(r, types.FrameType) and r.f_code.co_filename == __file__)
        ]
        if not refs:  # only a running function holds it (3.11 frames are invisible to gc): find which
            path.append(_thread_holding(current, previous))
            break
        ignore.add(id(refs))
        ref = refs[0]
        if isinstance(ref, types.FrameType):  # a running or suspended function: where it stands
            path.append(f"{ref.f_code.co_name} at {ref.f_code.co_filename}:{ref.f_lineno}")
            break
        path.append(_describe(ref, current))
        previous, current = current, ref
    return " <- ".join(path)


def _objects() -> dict[str, object]:
    """Live objects of the types that hold pictures (their pixels are FFmpeg's memory, which
    tracemalloc does not see): counts, frames by source, and who holds the frames of a source
    that has few left (one removed)."""
    counts: dict[str, int] = {}
    frames: dict[str, list[object]] = {}
    everything = gc.get_objects()
    for obj in everything:
        name = type(obj).__name__
        if name in WATCHED:
            counts[name] = counts.get(name, 0) + 1
            if name == "Frame" and hasattr(obj, "source_id"):
                frames.setdefault(obj.source_id, []).append(obj)
    del everything, obj
    ignore = {id(frames), *(id(v) for v in frames.values())}
    holders: dict[str, list[str]] = {}
    for source, found in frames.items():
        if len(found) <= 2:
            picked = tuple(found)  # what is iterated here refers to the frames too: ignored
            for frame in picked:
                holders.setdefault(source, []).append(_holders(frame, {*ignore, id(picked)}))
            del frame
    by_source = {source: len(found) for source, found in frames.items()}
    frames.clear()
    return {"counts": counts, "frames_by_source": by_source, "frame_holders": holders}


def _dumper(directory: Path, interval: float, stop: threading.Event) -> None:
    count = 0
    while not stop.wait(interval) and count < 10_000:
        tracemalloc.take_snapshot().dump(str(directory / f"snap-{count:04d}.pickle"))
        (directory / f"snap-{count:04d}.time").write_text(f"{time.time()}\n")
        (directory / f"objects-{count:04d}.json").write_text(json.dumps(_objects(), indent=1))
        count += 1


def main() -> int:
    directory, interval = Path(sys.argv[1]), float(sys.argv[2])
    directory.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(FRAMES)
    stop = threading.Event()
    threading.Thread(target=_dumper, args=(directory, interval, stop), name="tracemalloc-dumper", daemon=True).start()
    atexit.register(stop.set)
    sys.argv = ["vigil", *sys.argv[3:]]
    from vigil.cli.main import main as vigil_main

    return int(vigil_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
