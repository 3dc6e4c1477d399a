"""bench.progress: a bar only in a terminal; a log file gets a few plain lines."""

import io

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
