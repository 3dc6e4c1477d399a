"""bench.timespent: a run's seconds per part, summed over its cells, a pair's wall time once."""

import pytest

from bench.cell import Cell
from bench.record import CELL_TIME_KEY, Record, RunInfo
from bench.timespent import PARTS, time_spent


def record(preset: str, phase: str, spent: dict | None, run: str = "run-1", **details) -> Record:
    cell = Cell(preset, 32, 1, "fp32", phase)
    if spent is not None:
        details[CELL_TIME_KEY] = spent
    return Record(RunInfo(run, "suite"), cell, {}, None, {}, "ok", {}, details=details)


def test_each_part_is_summed_and_a_pair_counts_its_wall_time_once():
    records = [
        record("adm-tiny", "flops", {"measure": 0.5, "wall": 0.5}),
        record(
            "adm-tiny",
            "train_step",
            {"count": 1, "peak": 0.5, "build": 2, "first_call": 4, "windows": 3, "measure": 11}
            | {"wall": 14},
        ),
        record(
            "adm-tiny",
            "forward",
            {"count": 1, "build": 1, "first_call": 1, "windows": 2, "pair_wall": 15},
            pair={"role": "first", "with": "rin-tiny"},
        ),
        record(
            "rin-tiny",
            "forward",
            {"count": 1, "build": 1, "first_call": 1, "windows": 2, "pair_wall": 15},
            pair={"role": "second", "with": "adm-tiny"},
        ),
        record("dit-tiny", "forward", None),  # written before records kept their seconds
        record("dit-tiny", "forward", {"measure": 1, "wall": 2}, run="run-2"),
    ]
    first, second = time_spent(records)
    assert (first.key, first.cells, first.untimed) == ("run-1", 5, 1)
    assert first.wall_s == pytest.approx(0.5 + 14 + 15)
    assert first.parts_s == pytest.approx(
        {
            "start_up": 3 + (15 - 10),  # the train step's process, the pair's processes and waits
            "count": 0.5 + 1 + 2,
            "build": 2 + 2,
            "first_call": 4 + 2,
            "windows": 3 + 4,
            "other": 0.5 + 0.5,  # the train step's own matmul peak, the rest of its measure
        }
    )
    assert sum(first.parts_s.values()) == pytest.approx(first.wall_s)
    assert set(first.parts_s) == set(PARTS)
    assert first.slowest[0] == (15, "adm-tiny.r32.b1.fp32.forward.eager.cpu with rin-tiny")
    assert (second.key, second.wall_s, second.parts_s["start_up"]) == ("run-2", 2, 1)
    assert second.parts_s["other"] == 1  # timed, with no part named: all of it unexplained
