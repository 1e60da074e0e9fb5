"""The daemon as systemd runs it: time from start to READY, and memory per stream.

Starts `vigil run CONFIG` as a process with a real NOTIFY_SOCKET, for 1, 4 and 8 paced streams
(640x480 H.264 files played in real time and looped, as cameras), and measures the seconds from
spawning the process to READY=1 (model file in the OS cache after the first run) and the
resident memory (VmRSS) after the streams have run for a while.

    python bench/daemon.py [--streams 1,4,8] [--settle 10]
"""

from __future__ import annotations

import argparse
import importlib.resources
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import make_clip  # noqa: E402  (bench/pipeline.py)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def run_once(workdir: Path, clip: Path, model: str, streams: int, settle_s: float, fps: int) -> tuple[float, float]:
    config = workdir / f"vigil-{streams}.yaml"
    sources = "".join(f"  - {{name: cam{i}, url: {clip}, realtime: true, loop: true}}\n" for i in range(streams))
    config.write_text(
        f"model:\n  path: {model}\n  image_size: 640\nsources:\n{sources}"
        f"sinks: [{{kind: jsonl, path: {workdir / f'r{streams}.jsonl'}}}]\napi: {{enabled: false}}\n"
    )
    sock_path = workdir / f"notify-{streams}-{time.monotonic_ns()}.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(sock_path))
    notify.settimeout(120)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path)}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "vigil", "run", str(config)], env=env, stderr=subprocess.DEVNULL)
    try:
        while notify.recv(4096) != b"READY=1":
            pass
        ready_s = time.perf_counter() - started
        time.sleep(settle_s)
        memory = rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(60)
        notify.close()
    return ready_s, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(importlib.resources.files("nudenet") / "320n.onnx"))
    parser.add_argument("--streams", default="1,4,8")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds the streams run before RSS is read")
    parser.add_argument("--fps", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        clip = make_clip(workdir / "cam.mp4", args.fps * 10, fps=args.fps)
        run_once(workdir, clip, args.model, 1, 1.0, args.fps)  # warm the OS file cache
        rows = []
        for n in (int(x) for x in args.streams.split(",")):
            ready, memory = run_once(workdir, clip, args.model, n, args.settle, args.fps)
            rows.append((n, ready, memory))
            print(f"{n} stream(s): READY after {ready:.2f} s, RSS {memory:.0f} MiB")
    if len(rows) > 1:
        (n0, _, m0), (n1, _, m1) = rows[0], rows[-1]
        print(f"memory per added stream: {(m1 - m0) / (n1 - n0):.1f} MiB")


if __name__ == "__main__":
    main()
