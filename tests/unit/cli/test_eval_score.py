"""vigil eval's figures: TrackEval's HOTA/IDF1/ID switches on hand-made tracks, line-count and
speed errors on exact numbers, and a clear message without TrackEval."""

from __future__ import annotations

import sys

import pytest

from vigil.cli.eval_score import MissingExtra, count_errors, matches, speed_errors, tracking_scores


def walk(ident: int, y: float, frames: range) -> dict[int, list]:
    return {f: [(ident, (10.0 * f, y, 10.0 * f + 40, y + 80))] for f in frames}


def merged(*parts: dict[int, list]) -> dict[int, list]:
    out: dict[int, list] = {}
    for part in parts:
        for frame, rows in part.items():
            out.setdefault(frame, []).extend(rows)
    return out


TRUTH = merged(walk(1, 0, range(1, 21)), walk(2, 200, range(1, 21)))


def test_perfect_tracks_score_one_and_no_switch():
    found = merged(walk(7, 0, range(1, 21)), walk(8, 200, range(1, 21)))
    scores = tracking_scores(TRUTH, found)
    assert scores == {"hota": 1.0, "deta": 1.0, "assa": 1.0, "idf1": 1.0, "id_switches": 0, "mota": 1.0}


def test_swapped_tracks_halfway_are_two_switches():
    found = merged(walk(7, 0, range(1, 11)), walk(8, 200, range(1, 11)), walk(8, 0, range(11, 21)), walk(7, 200, range(11, 21)))
    scores = tracking_scores(TRUTH, found)
    assert scores["id_switches"] == 2 and scores["idf1"] == 0.5 and scores["deta"] == 1.0
    assert 0.5 < scores["hota"] < 1.0


def test_a_track_that_breaks_in_two_is_one_switch_and_misses_are_counted():
    found = merged(walk(7, 0, range(1, 11)), walk(9, 0, range(11, 21)), walk(8, 200, range(1, 16)))
    scores = tracking_scores(TRUTH, found)
    assert scores["id_switches"] == 1 and scores["mota"] == pytest.approx((40 - 5 - 1) / 40)


def test_without_trackeval_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "trackeval", None)
    monkeypatch.setitem(sys.modules, "trackeval.metrics", None)
    with pytest.raises(MissingExtra, match=r"pip install 'vigil-analytics\[eval\]'"):
        tracking_scores(TRUTH, TRUTH)


def test_count_errors_add_in_and_out_errors_over_the_true_crossings():
    truth = {"door": {"in": 10, "out": 5}, "gate": {"in": 3, "out": 2}}
    found = {"door": {"in": 11, "out": 3}, "gate": {"in": 3, "out": 2}}
    errors = count_errors(truth, found)
    assert errors["lines"]["door"]["error"] == 3 and errors["lines"]["gate"]["error"] == 0
    assert errors["error"] == 3 and errors["true_crossings"] == 20 and errors["error_percent"] == 15.0
    assert count_errors({"door": {"in": 0, "out": 0}}, {"door": {"in": 1, "out": 0}})["error_percent"] is None


def test_speed_errors_compare_matched_detections_only():
    truth = {1: [(1, (0.0, 0.0, 10.0, 10.0)), (2, (100.0, 0.0, 110.0, 10.0))], 2: [(1, (1.0, 0.0, 11.0, 10.0))]}
    found = {1: [(5, (100.0, 0.0, 110.0, 10.0)), (6, (0.5, 0.0, 10.5, 10.0))], 2: [(6, (50.0, 0.0, 60.0, 10.0))]}
    paired = matches(truth, found)
    assert paired == {(1, 5): 2, (1, 6): 1}  # frame 2's detection overlaps nothing
    true_kmh = {(1, 1): 10.0, (1, 2): 20.0, (2, 1): 10.0}
    errors = speed_errors(true_kmh, {(1, 5): 21.0, (1, 6): 9.0, (2, 6): 99.0}, paired)
    assert errors == {"measured": 2, "median_percent": 7.5, "p95_percent": 9.75}
    assert speed_errors({(1, 1): 0.5}, {(1, 6): 3.0}, paired)["measured"] == 0  # a standing object has no % error
