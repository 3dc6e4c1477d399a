"""bench.progress: a bar only in a terminal; a log file gets a few plain lines."""

import io

from helpers import stderr_on_a_terminal

from bench import progress


def test_a_log_that_is_not_a_terminal_gets_a_line_per_tenth(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    bar = progress.progress(200, "sampling")
    assert isinstance(bar, progress.PlainProgress)
    for _ in range(200):
        bar.update(1)
    bar.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in log.getvalue()
    assert lines[0].startswith("sampling: 20/200") and lines[-1].startswith("sampling: 200/200")


def test_disabled_progress_writes_nothing(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    bar = progress.progress(5, "x", enabled=False)
    bar.update(5)
    bar.set_postfix(loss=1)
    bar.close()
    assert log.getvalue() == ""


def test_a_sweeps_cells_get_a_line_each_in_a_log(monkeypatch):
    from bench.cell import Cell
    from bench.record import Outcome

    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    shown = progress.CellProgress("quick", 2, enabled=True)
    first, second = Cell("rin-tiny", 16, 1), Cell("dit-tiny", 32, 1)
    shown.start(first)
    shown.done(first, Outcome("ok"))
    shown.done(second, Outcome("oom", error="OutOfMemoryError: CUDA out of memory\nmore"))
    shown.close()
    assert log.getvalue() == (
        f"[1/2] ok: {first.id}\noom: {second.id}: OutOfMemoryError: CUDA out of memory\n"
    )


def test_the_slurm_sweeps_lines_carry_its_prefix_and_partition_even_on_a_terminal(monkeypatch):
    from bench.cell import Cell
    from bench.record import Outcome

    terminal = stderr_on_a_terminal(monkeypatch)
    shown = progress.CellProgress("local", 3, True, bar=False, prefix="rinbench: ")
    cell = Cell("rin-tiny", 16, 1)
    shown.done(cell, Outcome("ok"), " (a100)")
    shown.done(cell, Outcome("error", error="job 12 was cancelled"), " (a100)")
    assert terminal.getvalue() == (
        f"rinbench: [1/3] ok: {cell.id} (a100)\nrinbench: error: {cell.id}: job 12 was cancelled\n"
    )


def test_without_progress_a_sweep_shows_only_its_failures(monkeypatch):
    from bench.cell import Cell
    from bench.record import Outcome

    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    shown = progress.CellProgress("quick", 2, enabled=False)
    cell = Cell("rin-tiny", 16, 1)
    shown.done(cell, Outcome("ok"))
    shown.done(cell, Outcome("timeout", error="no result after 5 s"))
    assert log.getvalue() == f"timeout: {cell.id}: no result after 5 s\n"
