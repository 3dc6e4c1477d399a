"""`rinbench compare`: the regression gate on hand-made result sets, one rule per test."""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cli, compare
from bench.cell import Cell
from bench.record import Record, RunInfo

REPO = Path(__file__).resolve().parents[1]
FORWARD = "dit-tiny.r32.b2.fp32.forward.eager.cpu"


def record(
    preset="dit-tiny",
    phase="forward",
    *,
    device="cpu",
    status="ok",
    values=None,
    cpu="Test CPU 9000",
    cpus=2,
    gpu=None,
    run="base",
    error=None,
    torch="2.14.1",
):
    cell = Cell(preset, 32, 2, "fp32", phase, "eager", device)
    env = {
        "device": device,
        "cpu_model": cpu,
        "cpu_count": cpus,
        "torch": torch,
        "git_commit": "0123456789abcdef",
        "gpu": {"name": gpu} if gpu else None,
    }
    return Record(
        run=RunInfo(run, "ci", "2026-11-24T12:00:00+00:00"),
        cell=cell,
        settings={},
        model=None,
        env=env,
        status=status,
        values={} if values is None else values,
        error=error or (None if status == "ok" else f"{status} on purpose"),
    )


def timed(latency=10.0, rss=1000 * 2**20, foo_ms=None, samples=None, noisy=None, **kwargs):
    values = {"macs_fwd": 1000, "latency_ms_median": latency, "peak_rss_bytes": rss}
    if foo_ms is not None:  # a metric a test adds to the table
        values["foo_ms"] = foo_ms
    if samples is not None:
        values["latency_ms_samples"] = list(samples)
    if noisy is not None:
        values["latency_noisy"] = int(noisy)
    return record(values=values, **kwargs)


# Ten samples each: the median's 95% interval is [2nd, 9th] (bench.intervals.median_interval).
SPREAD = (6.0, 7.0, 8.0, 9.0, 10.0, 10.0, 11.0, 12.0, 13.0, 14.0)  # median 10, interval [7, 13]
TIGHT = (9.8, 9.9, 9.9, 10.0, 10.0, 10.0, 10.0, 10.1, 10.1, 10.2)  # median 10, [9.9, 10.1]


def sampled(samples, factor=1.0, **kwargs):
    """A timed record whose samples are `samples` x `factor`, the median theirs."""
    scaled = [sample * factor for sample in samples]
    return timed(statistics.median(scaled), samples=scaled, **kwargs)


def counted(params=5000, macs=1000, preset="dit-tiny"):
    return [
        record(preset, "params", values={"params": params}),
        record(preset, "flops", values={"macs_fwd": macs, "macs_train_step": 3 * macs}),
    ]


def verdicts(outcome):
    return {
        (row.cell.split(".")[0] + "." + row.cell.split(".")[4], row.item): row.verdict
        for row in outcome.rows
    }


def write(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps(r.to_json() if isinstance(r, Record) else r) + "\n" for r in records)
    path.write_text("".join(lines), encoding="utf-8")
    return path


def run_cli(capsys, *args):
    code = cli.main(["compare", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- exact metrics -----------------------------------------------------------------------------


def test_identical_results_pass_and_list_nothing(tmp_path, capsys):
    same = [*counted(), timed()]
    base, new = write(tmp_path / "base.jsonl", same), write(tmp_path / "new.jsonl", same)
    code, out, err = run_cli(capsys, base, new)
    assert code == 0, out
    assert out.startswith("# rinbench compare: no regression")
    assert "| Cell |" not in out  # only unchanged rows, which are not listed by default
    assert "6 unchanged rows not listed" in out and "rinbench: no regression" in err


@pytest.mark.parametrize("params", [5001, 4999])
def test_any_change_of_params_fails_either_way(params):
    outcome = compare.compare(counted(), counted(params=params))
    assert verdicts(outcome)[("dit-tiny.params", "params")] == compare.CHANGED
    assert outcome.regressed


def test_changed_macs_fail_with_the_difference_in_the_table(tmp_path, capsys):
    base = write(tmp_path / "base.jsonl", counted())
    new = write(tmp_path / "new.jsonl", counted(macs=1024))
    code, out, _ = run_cli(capsys, base, new)
    assert code == 1
    assert out.startswith("# rinbench compare: regression: 2 changed")
    assert "| macs_fwd | 1,000 | 1,024 | +24 (+2.4%) | **changed** |" in out


def test_changed_macs_under_another_torch_say_so():
    before = record(phase="flops", values={"macs_fwd": 1000})
    after = record(phase="flops", values={"macs_fwd": 900}, torch="2.11.0")
    text = compare.markdown(compare.compare([before], [after]))
    assert "- Note: BASE and NEW ran different torch versions" in text
    assert "torch 2.14.1;" in text and "torch 2.11.0;" in text


def test_exact_metrics_are_compared_across_devices():
    # Counts are taken on the meta device: the same on every machine.
    before = timed(cpu="CPU A")
    after = record(values={"macs_fwd": 999, "latency_ms_median": 10.0}, cpu="CPU B")
    outcome = compare.compare([before], [after])
    assert verdicts(outcome)[("dit-tiny.forward", "macs_fwd")] == compare.CHANGED


# --- thresholded metrics -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("latency", "fail_above", "verdict"),
    [
        (11.5, None, compare.WORSE),  # +15 % against the default 10 %
        (10.5, None, compare.UNCHANGED),  # +5 %
        (10.5, 0.03, compare.WORSE),  # +5 % against --fail-above 3%
        (8.0, None, compare.BETTER),  # -20 %
    ],
)
def test_time_against_its_threshold(latency, fail_above, verdict):
    thresholds = compare.resolve_thresholds(fail_above)
    outcome = compare.compare([timed()], [timed(latency)], thresholds=thresholds)
    assert verdicts(outcome)[("dit-tiny.forward", "latency_ms_median")] == verdict
    assert outcome.regressed == (verdict == compare.WORSE)


def test_time_regression_exit_codes_through_the_cli(tmp_path, capsys):
    base = write(tmp_path / "base.jsonl", [timed(10.0)])
    new = write(tmp_path / "new.jsonl", [timed(10.7)])
    assert run_cli(capsys, base, new)[0] == 0  # +7 % is within the default 10 %
    code, out, _ = run_cli(capsys, base, new, "--fail-above", "5%")
    assert code == 1
    assert (
        "| latency_ms_median | 10 ms | 10.7 ms | +7% | **worse** (+7% beyond the 5% threshold; "
        "no interval: threshold only (BASE and NEW: the record keeps no samples)) |"
    ) in out


# --- time against the noise: the runs' 95% intervals -------------------------------------------


def test_a_slowdown_within_the_noise_is_not_a_regression():
    # Drift: +20 % on the medians, but samples so spread that the two intervals overlap.
    outcome = compare.compare([sampled(SPREAD)], [sampled(SPREAD, 1.2, noisy=True)])
    (row,) = [row for row in outcome.rows if row.item == "latency_ms_median"]
    assert row.verdict == compare.WITHIN_NOISE and not outcome.regressed
    assert row.note == (
        "+20% beyond the 10% threshold, but within the noise: change [-35.4%, +123%], intervals "
        "overlap; NEW flagged noisy (latency_noisy)"
    )
    assert row.change_interval.low < 0 < row.change_interval.high
    text = compare.markdown(outcome)
    assert text.startswith("# rinbench compare: no regression") and "1 within noise" in text
    assert "latency_ms_median worse/better only when the two runs' 95% intervals do not" in text


@pytest.mark.parametrize(
    ("factor", "verdict", "said"),
    [
        (1.3, compare.WORSE, "+30% beyond the 10% threshold and beyond the noise"),
        (0.7, compare.BETTER, "-30% beyond the 10% threshold and beyond the noise"),
        (1.05, compare.UNCHANGED, "+5% within the 10% threshold; change ["),  # steady, small
    ],
)
def test_tight_samples_judge_a_change_by_its_threshold(factor, verdict, said):
    outcome = compare.compare([sampled(TIGHT)], [sampled(TIGHT, factor)])
    (row,) = [row for row in outcome.rows if row.item == "latency_ms_median"]
    assert row.verdict == verdict and row.note.startswith(said)
    assert outcome.regressed == (verdict == compare.WORSE)


@pytest.mark.parametrize(
    ("samples", "reason"),
    [
        (None, "the record keeps no samples"),
        ((9.0, 10.0, 11.0), "3 samples in one window: at least 6 bound a median at 95%"),
    ],
)
def test_without_an_interval_the_threshold_alone_decides(samples, reason):
    before, after = (
        (timed(10.0), timed(12.0)) if samples is None else (sampled(samples), sampled(samples, 1.2))
    )
    (row,) = [r for r in compare.compare([before], [after]).rows if r.item == "latency_ms_median"]
    assert row.verdict == compare.WORSE and row.change_interval is None
    assert f"no interval: threshold only (BASE and NEW: {reason})" in row.note


def test_noise_and_slowdown_exit_codes_through_the_cli(tmp_path, capsys):
    base = write(tmp_path / "base.jsonl", [sampled(SPREAD)])
    drifted = write(tmp_path / "drifted.jsonl", [sampled(SPREAD, 1.2)])
    code, out, err = run_cli(capsys, base, drifted)
    assert code == 0 and "| within noise (+20% beyond the 10% threshold, but" in out, out
    assert "rinbench: no regression" in err
    tight = write(tmp_path / "tight.jsonl", [sampled(TIGHT)])
    slower = write(tmp_path / "slower.jsonl", [sampled(TIGHT, 1.3)])
    code, out, _ = run_cli(capsys, tight, slower)
    assert code == 1 and out.startswith("# rinbench compare: regression: 1 worse"), out


def test_higher_is_better_metrics_regress_downwards():
    before = record(phase="forward", values={"max_batch": 256})
    after = record(phase="forward", values={"max_batch": 128})
    outcome = compare.compare([before], [after])
    assert verdicts(outcome)[("dit-tiny.forward", "max_batch")] == compare.WORSE


def test_thresholds_file_most_specific_entry_wins(tmp_path):
    path = tmp_path / "thresholds.toml"
    path.write_text('[thresholds]\ntime = "20%"\nlatency_ms_median = 2\npeak_rss_bytes = "off"\n')
    thresholds = compare.resolve_thresholds(0.5, compare.load_thresholds(path))
    assert thresholds["latency_ms_median"] == pytest.approx(0.02)  # metric beats kind
    assert thresholds["peak_alloc_bytes"] == pytest.approx(0.5)  # --fail-above beats defaults
    assert thresholds["peak_rss_bytes"] is None and thresholds["params"] == 0.0
    outcome = compare.compare([timed()], [timed(10.5, rss=5000 * 2**20)], thresholds=thresholds)
    found = verdicts(outcome)
    assert found[("dit-tiny.forward", "latency_ms_median")] == compare.WORSE
    assert ("dit-tiny.forward", "peak_rss_bytes") not in found  # "off": not compared


@pytest.mark.parametrize(
    ("text", "value"), [("5%", 0.05), ("5", 0.05), (12.5, 0.125), (" 0% ", 0.0), ("off", None)]
)
def test_parse_threshold(text, value):
    parsed = compare.parse_threshold(text)
    assert parsed is None if value is None else parsed == pytest.approx(value)


# --- devices, cells and statuses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"cpu": "CPU A"}, {"cpu": "CPU B"}),
        ({"cpus": 2}, {"cpus": 16}),  # the same CPU model with other cores is other hardware
        ({"device": "cuda", "gpu": "NVIDIA H100"}, {"device": "cuda", "gpu": "NVIDIA A100"}),
    ],
)
def test_timings_from_other_device_models_are_not_compared(before, after):
    outcome = compare.compare([timed(**before)], [timed(30.0, **after)])  # 3x slower
    found = verdicts(outcome)
    assert found[("dit-tiny.forward", "device")] == compare.NOT_COMPARED
    assert ("dit-tiny.forward", "latency_ms_median") not in found
    assert not outcome.regressed
    assert "not compared" in compare.markdown(outcome)


def test_same_gpu_name_is_compared_whatever_the_cpu():
    outcome = compare.compare(
        [timed(device="cuda", gpu="NVIDIA H100", cpu="CPU A")],
        [timed(12.0, device="cuda", gpu="NVIDIA H100", cpu="CPU B")],
    )
    assert verdicts(outcome)[("dit-tiny.forward", "latency_ms_median")] == compare.WORSE


def test_missing_and_new_cells(tmp_path, capsys):
    base = write(tmp_path / "base.jsonl", [*counted(preset="adm-tiny"), *counted()])
    new = write(tmp_path / "new.jsonl", [*counted(), *counted(preset="rin-tiny")])
    code, out, _ = run_cli(capsys, base, new)
    assert code == 1
    assert out.startswith("# rinbench compare: regression: 2 missing")
    assert "| `adm-tiny.r32.b2.fp32.params.eager.cpu` | cell | ok | – | – | **missing**" in out
    assert (
        "| `rin-tiny.r32.b2.fp32.params.eager.cpu` | cell | – | ok | – | new (not in BASE) |" in out
    )
    code, out, _ = run_cli(capsys, base, new, "--allow-missing")
    assert code == 0 and "| missing (not in NEW) |" in out


def test_sets_that_share_no_cell_are_bad_input_not_a_regression(tmp_path, capsys):
    base = write(tmp_path / "base.jsonl", counted(preset="adm-tiny"))
    new = write(tmp_path / "new.jsonl", counted(preset="rin-tiny"))
    for extra in ((), ("--allow-missing",)):
        code, out, err = run_cli(capsys, base, new, *extra)
        assert code == 2 and out == "" and err.count("\n") == 1
        assert "BASE and NEW share no cell: BASE has 2 (e.g. adm-tiny.r32" in err
        assert "NEW has 2 (e.g. rin-tiny.r32" in err
    # The same after --only: what is left of NEW shares nothing with what is left of BASE.
    both = write(tmp_path / "both.jsonl", [*counted(preset="adm-tiny"), *counted()])
    code, _, err = run_cli(capsys, both, new, "--only", "adm-*")
    assert code == 2 and "share no cell matching --only adm-*: BASE has 2" in err
    assert "NEW has 0; compare two runs" in err


def test_a_metric_an_ok_cell_no_longer_records_is_missing():
    outcome = compare.compare([timed()], [record(values={"macs_fwd": 1000})])
    found = verdicts(outcome)
    assert found[("dit-tiny.forward", "latency_ms_median")] == compare.MISSING
    assert outcome.regressed


@pytest.mark.parametrize(
    ("before", "after", "verdict"),
    [
        ("ok", "oom", compare.WORSE),
        ("ok", "error", compare.WORSE),
        ("ok", "unsupported", compare.WORSE),
        ("oom", "timeout", compare.WORSE),
        ("error", "ok", compare.BETTER),
        ("oom", "unsupported", compare.CHANGED),
    ],
)
def test_status_changes(before, after, verdict):
    outcome = compare.compare(
        [timed(status=before)], [timed(status=after, error=None if after == "ok" else "boom")]
    )
    found = verdicts(outcome)
    assert found[("dit-tiny.forward", "status")] == verdict
    assert outcome.regressed == (verdict in compare.FAILING)
    if after != "ok":  # a failed cell's timings are its status row's story
        assert ("dit-tiny.forward", "latency_ms_median") not in found


def test_the_last_record_of_a_retried_cell_counts(tmp_path, capsys):
    base = write(tmp_path / "base.jsonl", [timed()])
    write(tmp_path / "new" / "run.jsonl", [timed(status="error", error="boom"), timed()])
    assert run_cli(capsys, base, tmp_path / "new")[0] == 0


def test_only_restricts_both_sides(tmp_path, capsys):
    base = write(tmp_path / "base.jsonl", [*counted(), timed()])
    new = write(tmp_path / "new.jsonl", counted())
    assert run_cli(capsys, base, new)[0] == 1  # the forward cell is missing
    code, out, _ = run_cli(capsys, base, new, "--only", "*.params.*", "--only", "*.flops.*")
    assert code == 0 and FORWARD not in out


def test_all_lists_unchanged_rows_and_out_writes_the_table(tmp_path, capsys):
    base = write(tmp_path / "base.jsonl", counted())
    out_file = tmp_path / "compare.md"
    code, out, _ = run_cli(capsys, base, base, "--all", "--out", out_file)
    assert code == 0
    assert "| params | 5,000 | 5,000 | 0 | unchanged |" in out
    assert out_file.read_text() == out


# --- bad input ---------------------------------------------------------------------------------


def bad_inputs(tmp_path):
    good = write(tmp_path / "good.jsonl", counted())
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"schema": 1, "run"\n')
    not_a_record = write(tmp_path / "other.jsonl", [{"benchmarks": []}])
    newer = write(tmp_path / "newer.jsonl", [counted()[0].to_json() | {"schema": 99}])
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text(good.read_text() + '{"schema": 1, "ru')
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    (tmp_path / "empty").mkdir()
    return good, {
        "missing path": (tmp_path / "nope.jsonl", "no results file or folder"),
        "not JSON": (garbage, "garbage.jsonl:1: not a rinbench result record"),
        "not a record": (not_a_record, "other.jsonl:1: not a rinbench result record"),
        "newer schema": (newer, "newer.jsonl:1: results written with schema version 99"),
        "cut-off line": (truncated, "truncated.jsonl:3: not a rinbench result record"),
        "not UTF-8": (binary, "binary.jsonl:1: not a rinbench result record"),
        "empty folder": (tmp_path / "empty", "no result records in"),
    }


def test_bad_result_files_exit_2_with_one_line(tmp_path, capsys):
    good, cases = bad_inputs(tmp_path)
    for name, (path, message) in cases.items():
        for args in ((good, path), (path, good)):
            code, out, err = run_cli(capsys, *args)
            assert code == 2, name
            assert out == "" and err.count("\n") == 1 and message in err, (name, err)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[thresholds]\nlatency = "5%"\n', "unknown threshold 'latency'; known: time"),
        ('[thresholds]\nparams = "5%"\n', "params is an exact count"),
        ('[thresholds]\ntime = "fast"\n', "time: bad threshold 'fast'"),
        ('[thresholds]\ntime = "-5%"\n', "bad threshold '-5%'"),
        ('time = "5%"\n', "expected one [thresholds] table, found time"),
        ("[thresholds\n", "not valid TOML"),
    ],
)
def test_bad_thresholds_file_exits_2(tmp_path, capsys, toml, message):
    good = write(tmp_path / "good.jsonl", counted())
    path = tmp_path / "t.toml"
    path.write_text(toml)
    code, out, err = run_cli(capsys, good, good, "--thresholds", path)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1, err


def test_bad_flags_exit_2(tmp_path, capsys):
    good = write(tmp_path / "good.jsonl", counted())
    for bad in ["lots", "off"]:  # "off" belongs in a --thresholds file, and the message says so
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["compare", str(good), str(good), "--fail-above", bad])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "'off' in a --thresholds file" in err and "(or 'off'" not in err, err
    code, _, err = run_cli(capsys, good, good, "--only", "*.sample.*")
    assert code == 2 and "matches no cell of BASE" in err


def test_compare_runs_without_torch(tmp_path):
    base = write(tmp_path / "base.jsonl", [*counted(), timed()])
    code = (
        "import sys; from bench import cli; status = cli.main(['compare', sys.argv[1], sys.argv[1]]);"
        "assert 'torch' not in sys.modules, 'compare imported torch'; sys.exit(status)"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", code, str(base)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_a_metric_added_to_the_table_is_gated_without_touching_compare(monkeypatch):
    from bench import metrics
    from bench.metrics import LOWER, THRESHOLD, Metric

    foo = Metric("foo_ms", "ms", metrics.TIME, LOWER, "foo", compare=THRESHOLD)
    monkeypatch.setattr(metrics, "METRICS", (*metrics.METRICS, foo))
    monkeypatch.setattr(metrics, "BY_KEY", metrics.BY_KEY | {foo.key: foo})
    base = [timed(foo_ms=10.0)]
    slower, faster, same = timed(foo_ms=12.0), timed(foo_ms=8.0), timed(foo_ms=10.5)
    for new, verdict in ((slower, compare.WORSE), (faster, compare.BETTER), (same, "unchanged")):
        outcome = compare.compare(base, [new])
        assert verdicts(outcome)[("dit-tiny.forward", "foo_ms")] == verdict
    assert outcome.thresholds["foo_ms"] == compare.DEFAULT_THRESHOLDS[metrics.TIME]
    assert "foo_ms 10%" in compare.markdown(compare.compare(base, [slower]))
    # A thresholds file may name it, like any gated metric.
    assert compare.resolve_thresholds(table={"foo_ms": 0.5})["foo_ms"] == 0.5


def test_a_thresholded_metric_needs_a_kind_compare_keeps_a_threshold_for():
    from bench.metrics import LOWER, QUALITY, THRESHOLD, Metric

    with pytest.raises(ValueError, match="compare thresholds only kinds time, memory, energy"):
        Metric("fid_x", "1", QUALITY, LOWER, "FID", compare=THRESHOLD)


# --- what makes two ok records comparable --------------------------------------------------------


def _with(record_, *, env=None, values=None, settings=None):
    import dataclasses

    return dataclasses.replace(
        record_,
        env=record_.env | (env or {}),
        values=record_.values | (values or {}),
        settings=record_.settings | (settings or {}),
    )


def test_other_cores_or_threads_are_not_compared_and_other_settings_are_said():
    base, slower = timed(), timed(16.0)  # 1.6x slower on the same machine
    pinned = _with(base, env={"cpu_usable_cores": 1}, values={"torch_threads": 1})
    free = _with(slower, env={"cpu_usable_cores": 2}, values={"torch_threads": 2})
    outcome = compare.compare([pinned], [free])
    (row,) = [r for r in outcome.rows if r.verdict != compare.UNCHANGED]  # macs_fwd is equal
    assert (row.item, row.verdict) == ("device", compare.NOT_COMPARED)
    assert row.note.startswith("different usable CPU cores")
    # A lever's A/B (rinbench compare plain levers) is compared, and every row names the lever;
    # a timing rule likewise, the memory row too; a count row names only what counts depend on.
    lever = _with(slower, settings={"channels_last": True, "warmup": 9})
    outcome = compare.compare([base], [lever])
    rows = {r.item: r for r in outcome.rows}
    assert rows["latency_ms_median"].verdict == compare.WORSE
    said = "measured under other settings: channels_last False -> True, warmup 3 -> 9"
    assert rows["latency_ms_median"].note.endswith(said)
    assert rows["peak_rss_bytes"].note.endswith(said)
    assert said not in rows["macs_fwd"].note  # counts are taken on meta, the levers aside
    # A flops cell's macs_sample is sample_steps forward passes: its change says why.
    flops = record("dit-tiny", "flops", values={"macs_fwd": 1000, "macs_sample": 10000})
    more = _with(flops, values={"macs_sample": 20000}, settings={"sample_steps": 20})
    (row,) = [r for r in compare.compare([flops], [more]).rows if r.item == "macs_sample"]
    assert row.verdict == compare.CHANGED
    assert row.note.endswith("counted under other settings: sample_steps 10 -> 20")
    assert "**worse**" in compare.markdown(outcome)  # the table prints every such row
    # A status row leads with them (a long error is cut at its end); profile moves no window.
    failed = _with(
        record(status="unsupported", error="flash cannot run here"),
        settings={"sdpa_backend": "flash", "profile": True},
    )
    (row,) = [r for r in compare.compare([base], [failed]).rows if r.item == "status"]
    assert row.note == (
        "measured under other settings: sdpa_backend None -> flash; flash cannot run here"
    )


def test_a_new_cell_the_harness_failed_is_a_regression_and_an_oom_one_is_new():
    base = counted()
    crashed = record("rin-tiny", "params", status="error")
    outcome = compare.compare(base, [*base, crashed])
    row = next(r for r in outcome.rows if r.cell.startswith("rin-tiny"))
    assert (
        row.verdict == compare.WORSE
        and row.note == "not in BASE, and it ended error: error on purpose"
    )
    assert outcome.regressed
    too_big = record("rin-tiny", "forward", status="oom")
    row = next(r for r in compare.compare(base, [*base, too_big]).rows if r.cell.startswith("rin"))
    assert (row.verdict, row.note) == (compare.NEW, "not in BASE, and it ended oom")


def test_a_change_over_contended_rounds_is_not_judged_and_one_at_its_threshold_is_within_it():
    contended = _with(sampled(TIGHT), values={"rounds_short_of_cores": 2})
    (row,) = [
        r
        for r in compare.compare([contended], [sampled(TIGHT, 1.5)]).rows
        if r.item == "latency_ms_median"
    ]
    assert row.verdict == compare.NOT_COMPARED
    assert row.note.endswith("other jobs held the cores in 2 of BASE's rounds: not judged")
    (row,) = [  # within the threshold, contended or not, it is unchanged
        r
        for r in compare.compare([contended], [sampled(TIGHT, 1.05)]).rows
        if r.item == "latency_ms_median"
    ]
    assert row.verdict == compare.UNCHANGED
    # 1.0 -> 1.1 ms is (1.1 - 1.0) / 1.0 = 0.10000000000000009: at the 10% threshold, not over.
    (row,) = [
        r for r in compare.compare([timed(1.0)], [timed(1.1)]).rows if r.item == "latency_ms_median"
    ]
    assert row.verdict == compare.UNCHANGED
