"""`vigil` with tracemalloc, for the soak's memory investigation only (bench/soak.py --tracemalloc DIR):
starts tracemalloc with `FRAMES` frames per trace, then a daemon thread dumps a snapshot to
DIR/snap-NNNN.pickle every INTERVAL seconds (and one at exit); vigil itself is unchanged and
pays nothing for this when run normally.

    python bench/_traced_vigil.py DIR INTERVAL run CONFIG
Compare the snapshots: python bench/_soak_tracemalloc.py DIR
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
import tracemalloc
from pathlib import Path

FRAMES = 12


def _dumper(directory: Path, interval: float, stop: threading.Event) -> None:
    count = 0
    while not stop.wait(interval) and count < 10_000:
        tracemalloc.take_snapshot().dump(str(directory / f"snap-{count:04d}.pickle"))
        (directory / f"snap-{count:04d}.time").write_text(f"{time.time()}\n")
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
