"""The counts' SQLite file for real: the daemon's store (`open_store`) keeps it beside the API's
state file and a store opened again after a stop answers the same counts (a restart); on a real
tmpfs filled during the run a flush fails, is counted and keeps the sums in memory (answered all
the same), and once the space is back the next flush writes them all."""

from __future__ import annotations

from types import SimpleNamespace

from tests.support.tmpfs import fill, free, tmpfs
from tests.unit.store.test_counts import NOW, SCRIPT, crossing, lines, query, zones
from vigil.config.daemon import DaemonConfig
from vigil.daemon.readiness import _counts_check
from vigil.store import StoreFeed
from vigil.store.analytics import Analytics, analytics_of
from vigil.store.counts import CountStore
from vigil.store.log import open_store

CONFIG = {
    "model": {"path": "models/m.onnx"},
    "sources": [{"name": "gate", "url": "rtsp://10.0.0.1/gate"}],
    "sinks": [{"kind": "jsonl", "path": "out.jsonl"}],
}
WINDOW = {"since": "2026-12-01T06:00:00Z", "until": "2026-12-01T06:30:00Z"}


async def test_the_daemons_store_keeps_the_counts_in_its_state_directory_across_a_restart(tmp_path):
    config = DaemonConfig.model_validate(CONFIG)
    first = await open_store(config, 100, tuple, tmp_path / "state")
    StoreFeed(first).events(SCRIPT)  # as the daemon feeds it
    await first.close()
    assert (tmp_path / "state" / "counts.sqlite").is_file()
    again = await open_store(config, 100, tuple, tmp_path / "state")
    analytics = analytics_of(again)
    assert analytics is not None and analytics.counts is not None and analytics.heatmaps is not None
    rows = analytics.counts.report(query(**WINDOW))
    assert lines(rows) == [("06:00", 2, 0), ("06:15", 0, 1)]
    assert zones(rows) == [("06:00", 2, 1, 2, 1.333, 600.0), ("06:15", 0, 1, 1, 0.333, 900.0)]
    await again.close()


async def test_sections_turned_off_keep_nothing(tmp_path):
    config = DaemonConfig.model_validate({**CONFIG, "counts": {"enabled": False}, "heatmap": {"enabled": False}})
    log = await open_store(config, 100, tuple, tmp_path)
    analytics = analytics_of(log)
    assert analytics is not None and analytics.counts is None and analytics.heatmaps is None
    await log.close()
    assert not (tmp_path / "counts.sqlite").exists()


def test_a_full_disk_fails_a_flush_counted_and_the_sums_wait_for_the_space_to_come_back():
    with tmpfs(256 * 1024) as disk:
        counts = CountStore(str(disk / "counts.sqlite"), clock=lambda: NOW)
        counts.events(SCRIPT[:3])
        counts.flush()
        fill(disk)
        counts.events([crossing(16, "in"), crossing(31, "out")] + [crossing(40 + k, "in", line=f"l{k}") for k in range(200)])
        counts.flush()
        assert counts.flushes_failed == 1
        check = _counts_check(SimpleNamespace(analytics=Analytics(counts)))  # what /readyz says of them
        assert check is not None and not check.ok and check.failed_writes == 1, check
        assert "cannot write" in (check.reason or "") and "retried" in (check.reason or ""), check
        asked = query(line="door", since="2026-12-01T06:00:00Z", until="2026-12-01T06:45:00Z")
        assert lines(counts.report(asked)) == [("06:00", 2, 0), ("06:15", 1, 1), ("06:30", 0, 1)]  # from memory
        assert counts.flushes_failed == 2  # the report's own flush failed too
        free(disk)
        counts.flush()
        assert counts.flushes_failed == 2
        recovered = _counts_check(SimpleNamespace(analytics=Analytics(counts)))
        assert recovered is not None and recovered.ok and recovered.reason is None, recovered  # ready again by itself
        counts.close()
        reopened = CountStore(str(disk / "counts.sqlite"), clock=lambda: NOW)
        assert lines(reopened.report(asked)) == [("06:00", 2, 0), ("06:15", 1, 1), ("06:30", 0, 1)]
        reopened.close()
