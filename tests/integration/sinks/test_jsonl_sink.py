"""The JSON Lines sink on real files: rotation by size and time, gzip, per-source files, flush."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest

from tests.support.results import make_result
from vigil.errors import ConfigError, SinkError
from vigil.pipeline.fanout import Fanout, Outlet
from vigil.sinks.filters import ResultFilter
from vigil.sinks.jsonl import JsonlOptions, JsonlSink


def lines_of(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


async def run_sink(sink: JsonlSink, results, pause: float = 0.0) -> None:
    await sink.start()
    for result in results:
        await sink.publish(result)
        if pause:
            await sink.flush()
            await asyncio.sleep(pause)
    await sink.close()


async def test_rotation_by_size_keeps_every_line_in_order(tmp_path):
    out = tmp_path / "results.jsonl"
    sink = JsonlSink(out, options=JsonlOptions(rotate_bytes=2000), queue_size=4)
    await run_sink(sink, [make_result("cam", i) for i in range(40)])
    assert len(sink.rotated) >= 3
    assert all(p.name.startswith("results.") and p.name.endswith(".jsonl") for p in sink.rotated)
    assert sorted(sink.rotated) == sink.rotated  # names sort in the order the files were written
    seqs = [r["seq"] for p in [*sink.rotated, out] for r in lines_of(p)]
    assert seqs == list(range(40))  # closed files in order, then the one still being written
    # A file is closed at the first batch that takes it past the limit: at most one batch over.
    assert all(p.stat().st_size < 2000 + 4 * 400 for p in sink.rotated)


async def test_rotation_by_time_and_gzip_of_closed_files(tmp_path):
    out = tmp_path / "results.jsonl"
    sink = JsonlSink(out, options=JsonlOptions(rotate_seconds=0.3, gzip=True))
    await run_sink(sink, [make_result("cam", i) for i in range(4)], pause=0.2)
    assert len(sink.rotated) >= 1
    assert all(p.suffixes[-2:] == [".jsonl", ".gz"] for p in sink.rotated)
    assert not list(tmp_path.glob("results.*Z.jsonl")) and not list(tmp_path.glob("*.partial"))
    seqs = [r["seq"] for p in [*sink.rotated, out] for r in lines_of(p)]
    assert seqs == [0, 1, 2, 3]


async def test_per_source_files_hold_only_their_source(tmp_path):
    sink = JsonlSink(tmp_path / "{source}" / "results.jsonl", options=JsonlOptions(per_source=True))
    await run_sink(sink, [make_result(source, i) for i in range(5) for source in ("door", "yard")])
    for source in ("door", "yard"):
        records = lines_of(tmp_path / source / "results.jsonl")
        assert [r["seq"] for r in records] == list(range(5)) and {r["source"] for r in records} == {source}


async def test_a_filter_keeps_only_what_it_should(tmp_path):
    out = tmp_path / "r.jsonl"
    faces = ResultFilter(classes=frozenset({"FACE_FEMALE"}), only_with_detections=True)
    outlet = Outlet(JsonlSink(out), faces)  # the fanout applies a sink's filter before its publish
    fanout = Fanout([outlet])
    await fanout.start()
    for result in [make_result("cam", i, *(((0, 2), (0.9, 0.3)) if i % 2 else ((2,), (0.8,)))) for i in range(6)]:
        await fanout.publish(result)
    await fanout.close()
    records = lines_of(out)
    assert [r["seq"] for r in records] == [1, 3, 5] and outlet.filtered == 3
    assert all([d["class_name"] for d in r["detections"]] == ["FACE_FEMALE"] for r in records)


def test_per_source_without_a_placeholder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"\{source\} placeholder"):
        JsonlSink(tmp_path / "results.jsonl", options=JsonlOptions(per_source=True))


@pytest.mark.parametrize("policy", ["os", "fsync"])
async def test_flushed_lines_are_on_disk_before_close(tmp_path, policy):
    out = tmp_path / "r.jsonl"
    sink = JsonlSink(out, options=JsonlOptions(flush=policy))
    await sink.start()
    for i in range(3):
        await sink.publish(make_result("cam", i))
    await sink.flush()
    assert [r["seq"] for r in lines_of(out)] == [0, 1, 2]  # readable by another process now
    await sink.close()


async def test_buffered_lines_are_complete_after_close(tmp_path):
    out = tmp_path / "r.jsonl"
    await run_sink(JsonlSink(out, options=JsonlOptions(flush="buffered")), [make_result("cam", i) for i in range(50)])
    assert [r["seq"] for r in lines_of(out)] == list(range(50))


async def test_an_unwritable_path_fails_at_start_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    sink = JsonlSink(blocker / "r.jsonl")
    with pytest.raises(SinkError, match="cannot open .*r.jsonl for writing"):
        await sink.start()


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="rotate_bytes"):
        JsonlOptions(rotate_bytes=0)
    with pytest.raises(ConfigError, match="flush"):
        JsonlOptions(flush="sometimes")  # type: ignore[arg-type]
