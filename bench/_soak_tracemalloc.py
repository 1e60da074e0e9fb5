"""Where the vigil process's Python memory grew between two tracemalloc snapshots that
bench/_traced_vigil.py dumped: the top allocation sites by growth (by line and by traceback).

    python bench/_soak_tracemalloc.py DIR [--first N] [--top 25]
"""

from __future__ import annotations

import argparse
import tracemalloc
from pathlib import Path

IGNORED = (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--first", type=int, default=1, help="the snapshot after warm-up to compare from (index)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    snaps = sorted(args.directory.glob("snap-*.pickle"))
    if len(snaps) < 2:
        raise SystemExit(f"need two snapshots in {args.directory}, found {len(snaps)}")
    first, last = (tracemalloc.Snapshot.load(str(p)).filter_traces(IGNORED) for p in (snaps[args.first], snaps[-1]))
    print(f"{snaps[args.first].name} -> {snaps[-1].name}")
    total = lambda s: sum(t.size for t in s.traces) / 2**20  # noqa: E731
    print(f"traced Python memory: {total(first):.1f} MiB -> {total(last):.1f} MiB")
    for key in ("lineno", "traceback"):
        print(f"\n== top growth by {key}")
        grown = sorted((s for s in last.compare_to(first, key) if s.size_diff > 0), key=lambda s: -s.size_diff)
        for stat in grown[: args.top]:
            print(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks  now {stat.size / 1024:.1f} KiB")
            frames = stat.traceback.format() if key == "traceback" else [str(stat.traceback[0])]
            for line in frames[-(12 if key == "traceback" else 1) :]:
                print("      " + line.strip())


if __name__ == "__main__":
    main()
