"""bench.timespent: a run's seconds per part, summed over its cells, a pair's wall time once."""

import pytest

from bench.cell import Cell
from bench.record import CELL_TIME_KEY, PROFILE_RETRIED_ALONE_KEY, Record, RunInfo
from bench.timespent import PARTS, time_spent, warm_up

PAIR_SIDE = {"count": 1, "build": 1, "first_call": 1, "windows": 2, "pair_wall": 15}
PAIR = "adm-tiny.r32.b1.fp32.forward.eager.cpu with rin-tiny.r32.b1.fp32.forward.eager.cpu"


def record(preset: str, phase: str, spent: dict | None, run="run-1", status="ok", **details):
    cell = Cell(preset, 32, 1, "fp32", phase)
    if spent is not None:
        details[CELL_TIME_KEY] = spent
    error = None if status == "ok" else "it went wrong"
    return Record(RunInfo(run, "suite"), cell, {}, None, {}, status, {}, error, details)


def pair_side(preset: str, partner: str, role: str, run: str = "run-1", wall: float = 15) -> Record:
    partner_id = f"{partner}.r32.b1.fp32.forward.eager.cpu"
    spent = PAIR_SIDE | {"pair_wall": wall}
    return record(preset, "forward", spent, run, pair={"role": role, "with": partner_id})


def test_each_part_is_summed_and_a_pair_counts_its_wall_time_once():
    timed = {"count": 1, "peak": 0.5, "build": 2, "first_call": 4, "windows": 3, "measure": 11}
    records = [
        record("adm-tiny", "flops", {"count": 0.4, "measure": 0.5, "wall": 0.5}),
        record("adm-tiny", "train_step", timed | {"wall": 14, "ahead": 2.5, "count_ahead": 0.6}),
        pair_side("adm-tiny", "rin-tiny", "first"),
        pair_side("rin-tiny", "adm-tiny", "second"),
        record("dit-tiny", "train_step", {"wall": 300.0}, status="timeout"),  # killed: no parts
        record("dit-tiny", "forward", None),  # written before records kept their seconds
        pair_side("rin-tiny", "adm-tiny", "second", run="run-2"),  # its partner's record is lost
    ]
    first, second = time_spent(records)
    assert (first.key, first.cells, first.untimed) == ("run-1", 6, 1)
    assert first.wall_s == pytest.approx(0.5 + 14 + 15 + 300)
    assert first.parts_s == pytest.approx(
        {
            "start_up": 3 + (15 - 10),  # the train step's process, the pair's processes and waits
            "count": 0.5 + 1 + 2,
            "build": 2 + 2,
            "first_call": 4 + 2,
            "quiet_wait": 0,
            "windows": 3 + 4,
            "other": 0.5 + 0.5,  # the train step's own matmul peak, the rest of its measure
            "unaccounted": 300,
        }
    )
    assert list(first.parts_s) == list(PARTS)
    # Before its turn, its counts on meta among it: not in its wall time.
    assert (first.ahead, first.ahead_s, first.count_ahead_s) == (1, 2.5, 0.6)
    assert sum(first.parts_s.values()) == pytest.approx(first.wall_s)
    assert first.slowest[:2] == [(300, "dit-tiny.r32.b1.fp32.train_step.eager.cpu"), (15, PAIR)]
    # A pair's side alone still brings its pair's wall time, once: no part goes negative.
    assert (second.key, second.wall_s, second.parts_s["start_up"]) == ("run-2", 15, 10)
    assert min(second.parts_s.values()) >= 0


def test_a_pair_played_again_in_its_run_counts_each_play_once():
    # --retry-failed (or a resume after a cut between the two records) plays the pair again into
    # the same run file: its second play's wall counts too, and no part goes negative.
    records = [
        pair_side("adm-tiny", "rin-tiny", "first"),
        pair_side("rin-tiny", "adm-tiny", "second"),
        pair_side("adm-tiny", "rin-tiny", "first", wall=20),
        pair_side("rin-tiny", "adm-tiny", "second", wall=20),
    ]
    (run,) = time_spent(records)
    assert run.wall_s == pytest.approx(15 + 20)
    assert run.parts_s["start_up"] == pytest.approx((15 - 10) + (20 - 10))
    assert min(run.parts_s.values()) >= 0


def test_a_profile_retried_alone_counts_its_attempt_in_the_pair_too():
    alone = {"count": 1, "build": 1, "first_call": 1, "measure": 5, "wall": 6}
    attempts = [
        {"status": "oom", CELL_TIME_KEY: {"measure": 1.5, "wall": 2}},
        {"status": "oom", CELL_TIME_KEY: {"wall": 3}},  # kept no parts: its seconds unaccounted
    ]
    records = [
        record(p, "profile:forward", dict(alone), **{PROFILE_RETRIED_ALONE_KEY: [a]})
        for p, a in zip(("adm-tiny", "rin-tiny"), attempts, strict=True)
    ]
    (run,) = time_spent(records)
    assert run.cells == 2 and run.wall_s == pytest.approx(6 + 2 + 6 + 3)
    assert run.parts_s["unaccounted"] == 3 and run.parts_s["other"] == pytest.approx(2 + 2 + 1.5)
    assert sum(run.parts_s.values()) == pytest.approx(run.wall_s)
    assert (3, "rin-tiny.r32.b1.fp32.profile:forward.eager.cpu (in its pair: oom)") in run.slowest


def test_warm_up_calls_are_factors_of_their_windows_median_first_windows_apart():
    alone = record("adm-tiny", "forward", None)
    alone.values.update(latency_ms_warmup=[30.0, 10.0], latency_ms_median=10.0)
    # The second side of a pair: round 2 ("ba") opens after its own window of round 1, round 3
    # ("ab") after the partner's.
    pair = {"role": "second", "orders": ["ab", "ba", "ab"], "after_first_call": [0]}
    side = record("rin-tiny", "forward", None, pair=pair)
    side.values.update(
        latency_ms_warmup_by_round=[[40.0, 20.0], [22.0, 20.0], [20.0]],
        latency_ms_round_medians=[20.0, 20.0, 20.0],
        latency_ms_warmup=[40.0, 20.0, 22.0, 20.0, 20.0],
    )
    ended = record("dit-tiny", "forward", None, pair=pair | {"partner_ended": "oom: ..."})
    ended.values.update(latency_ms_warmup_by_round=[[5.0], [9.0]], latency_ms_round_medians=[5, 3])
    # Failed records keep the windows that ended: a side that ran out of memory in round 3 its
    # first two rounds', a cell whose largest-batch search failed its window's; one that failed
    # before any window keeps none.
    out_of_memory = record("adm-tiny", "forward", None, status="oom", pair=pair)
    out_of_memory.values.update(
        latency_ms_warmup_by_round=[[8.0], [6.0]], latency_ms_round_medians=[4, 4]
    )
    searched = record("adm-tiny", "train_step", None, status="error")
    searched.values.update(latency_ms_warmup=[12.0], latency_ms_median=6.0)
    failed = record("dit-tiny", "forward", None, status="error")
    found = warm_up([alone, side, ended, out_of_memory, searched, failed])
    # By call: adm-tiny's, rin's, dit's, the out-of-memory side's, the failed search's.
    assert found.first == [[3.0, 2.0, 1.0, 2.0, 2.0], [1.0, 1.0]]
    assert found.after_own == [[1.1, 1.5], [1.0]] and found.after_partner == [[1.0]]
    assert found.calls == 11 and found.seconds == pytest.approx(0.193)  # not the unplaced 9 ms


def test_a_warm_up_ended_early_is_checked_by_its_windows_first_timed_call():
    """Windows whose warm-up made fewer calls than the settings' warmup (warmup_steady_within)
    set their first timed call against their median; the GPU check's summary says how far it
    strayed. A window that made them all is not among them."""
    from helpers import load_script

    ruled = {"warmup": 5, "warmup_steady_within": 0.02}
    alone = record("adm-tiny", "forward", None)
    alone.settings.update(ruled)
    alone.values.update(
        latency_ms_warmup=[10.2, 10.1], latency_ms_median=10.0, latency_ms_samples=[10.3, 10.0]
    )
    side = record("rin-tiny", "forward", None, pair={"role": "first", "orders": ["ab", "ba"]})
    side.settings.update(ruled)
    side.values.update(  # the first round took all five calls, the second ended early
        latency_ms_warmup_by_round=[[40.0, 30.0, 25.0, 21.0, 20.1], [22.0, 21.6]],
        latency_ms_round_medians=[20.0, 20.0],
        latency_ms_samples_by_round=[[25.0, 20.0], [22.0, 20.0]],
    )
    fixed = record("dit-tiny", "forward", None)  # two calls, but no rule ended them
    fixed.settings["warmup"] = 5
    fixed.values.update(
        latency_ms_warmup=[10.0, 10.0], latency_ms_median=10.0, latency_ms_samples=[30.0]
    )
    found = warm_up([alone, side, fixed])
    assert found.first_timed_after_early_end == pytest.approx([1.03, 1.1])
    text = "\n".join(load_script("benchmarks/gpu/summary.py")._warm_up([alone, side, fixed]))
    assert "window whose warm-up ended early, over the window's median: 1.06, farthest 1.10" in text
