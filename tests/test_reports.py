"""reports/: records -> tables (golden), figures, the written report, schemas, and the CLI.

tests/data/results_small.jsonl is small enough to check by hand: counts of adm-in256 and rin-in256
at 256 and 512 px (from a real CPU run), a real CPU timing of rin-tiny, and hand-made GPU records:
both models timed on an H100 and an H200, an OOM training step, a sampling cell that errored (its
message holds HTML), a timed-out cell without a model, and an FID record.
tests/data/quick_cpu.jsonl is a whole quick-suite run on a CPU, values trimmed.
"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import reports
from bench import cli, metrics, results, selection
from bench import record as record_module
from bench.cell import Cell
from bench.record import Record, SchemaError
from reports import figures, load, tables

DATA = Path(__file__).parent / "data"
SMALL = DATA / "results_small.jsonl"
QUICK_CPU = DATA / "quick_cpu.jsonl"
REPO = Path(__file__).resolve().parents[1]

GOLDEN_TABLE = """\
| Model | Res | Setup | Params | GMACs | img/s fwd | img/s train | peak GiB | MFU (measured peak) | MFU (data sheet) | J/img | FID |
|---|---|---|---|---|---|---|---|---|---|---|---|
| adm-in256 | 256 | H100 80GB HBM3 bf16 b32 eager | 553.8M | 1,120 | 125 | OOM | 12.00 | 40.0% |  | 4 |  |
| adm-in256 | 256 | H200 bf16 b32 eager | 553.8M | 1,120 | 180 |  | 12.00 | 41.0% |  | 3 |  |
| adm-in256 | 512 | – | 548.6M | 4,445 |  |  |  |  |  |  |  |
| dit-xl-2 | 256 | H100 80GB HBM3 bf16 b32 eager |  |  | timeout |  |  |  |  |  |  |
| rin-in256 | 256 | H100 80GB HBM3 bf16 b32 eager | 395.9M | 122 | 1,000 | 300 | 20.00 | 25.0% |  | 0.5 | 4.6 |
| rin-in256 | 256 | H200 bf16 b32 eager | 395.9M | 122 | 1,500 |  | 8.00 | 27.0% |  | 0.4 | 4.6 |
| rin-in256 | 512 | – | 397.5M | 190 |  |  |  |  |  |  |  |
| rin-tiny | 16 | cpu fp32 b4 eager | 103,536 | 0.000974 | 3,834 |  | 0.67 | 3.6% |  |  |  |
"""


@pytest.fixture(scope="module")
def small():
    return results.read(SMALL)


@pytest.fixture(scope="module")
def small_frame(small):
    return load.frame(small)


@pytest.fixture(scope="module")
def small_report(small):
    return reports.compose(small, title="small <results> & co")


def record_json(cell_id, *, status="ok", schema=1, model=None, **values):
    """A record's JSON object as rinbench 0.1 wrote it (schema 1)."""
    cell = Cell.from_id(cell_id).as_dict()
    return {
        "schema": schema,
        "run": {"id": "run-a", "suite": "quick", "started": "2026-01-01T00:00:00+00:00"},
        "cell": cell,
        "settings": {},
        "model": model,
        "env": {"device": cell["device"]},
        "status": status,
        "values": values,
        "error": None if status == "ok" else f"{status} on purpose",
    }


def record(cell_id, **fields) -> Record:
    return Record.from_json(record_json(cell_id, **fields))


# --- tables ----------------------------------------------------------------------------------------


def test_results_table_golden_markdown(small_frame):
    assert tables.results_table(small_frame).markdown() == GOLDEN_TABLE


def test_failed_cells_are_listed_with_their_reasons(small_frame):
    notes = tables.results_table(small_frame).notes
    assert notes == [
        "rin-in256 256 px, H100 80GB HBM3 bf16 b32 eager, sample: error: "
        "RuntimeError: <script>alert('x')</script> & friends",
        "adm-in256 256 px, H100 80GB HBM3 bf16 b32 eager, train_step: oom: OutOfMemoryError: "
        "CUDA out of memory. Tried to allocate 2.00 GiB",
        "dit-xl-2 256 px, H100 80GB HBM3 bf16 b32 eager, forward: timeout: no result after 1800 s",
    ]


def test_results_table_csv_keeps_numbers_and_statuses(small_frame):
    # Every metric the records have, in base units: counts, then per phase its status and values.
    lines = tables.results_table(small_frame).csv().splitlines()
    assert lines[0].startswith(
        "model,resolution,setup,hardware,dtype,batch,mode,params,params_trainable,macs_fwd,"
        "flops_fwd,macs_train_step,forward.status,forward.latency_ms_median,"
    )
    assert lines[0].endswith(
        ",train_step.status,train_step.latency_ms_median,train_step.images_per_s,train_step.mfu,"
        "train_step.peak_alloc_bytes,train_step.joules_per_image,sample.status,fid.status,"
        "fid.fid_legacy_tf,fid.kid_mean_legacy_tf,fid.train_macs,fid.n_samples"
    )
    assert lines[1] == (
        "adm-in256,256,H100 80GB HBM3 bf16 b32 eager,NVIDIA H100 80GB HBM3,bf16,32,eager,"
        "553838086,553838086,1119832768512,2239665537024,3359045058560,ok,256,,,,,125,,0.4,,"
        "12884901888,,4,oom,,,,,,,,,,,"
    )
    assert lines[4] == (
        "dit-xl-2,256,H100 80GB HBM3 bf16 b32 eager,NVIDIA H100 80GB HBM3,bf16,32,eager,"
        ",,,,,timeout,,,,,,,,,,,,,,,,,,,,,,,,"
    )
    assert lines[5].endswith(
        ",ok,106.66666666666667,300,0.3,21474836480,1.75,error,ok,4.6,0.0012,1.5e+21,50000"
    )


def test_results_table_latex_escapes_and_aligns(small_frame):
    tex = tables.results_table(small_frame).latex(caption="50% of 100_000 & more", label="t")
    assert r"\begin{tabular}{lrlrrrrrrlrr}" in tex  # no record has a data-sheet MFU: text
    assert r"\caption{50\% of 100\_000 \& more}" in tex
    assert (
        r"adm-in256 & 256 & H100 80GB HBM3 bf16 b32 eager & 553.8M & 1,120 & 125 & OOM & 12.00 "
        r"& 40.0\% &  & 4 &  \\" in tex
    )
    assert r"rin-in256 & 512 & -- & 397.5M & 190 &  &  &  &  &  &  &  \\" in tex


def noisy_records() -> list[Record]:
    """rin-tiny timed at 16 and 32 px: the 16 px forward steady, the 32 px forward noisy with an
    MFU over a suspect peak, the train step noisy."""
    # Eight calls: the order statistics bound their median by the fastest and the slowest.
    samples = [8.0, 9.0, 10.0, 10.0, 10.0, 11.0, 12.0, 16.0]
    timing = dict(latency_ms_median=10.0, latency_ms_samples=samples)
    return [
        record(
            "rin-tiny.r16.b4.fp32.forward.eager.cpu",
            images_per_s=400.0,
            mfu=0.05,
            latency_noisy=0,
            mfu_suspect=0,
            **timing,
        ),
        record(
            "rin-tiny.r32.b4.fp32.forward.eager.cpu",
            images_per_s=400.0,
            mfu=0.05,
            latency_noisy=1,
            mfu_suspect=1,
            latency_rel_iqr=0.4,
            **timing,
        ),
        record("rin-tiny.r32.b4.fp32.train_step.eager.cpu", images_per_s=100.0, latency_noisy=1),
    ]


def test_results_table_marks_noisy_timings_and_suspect_mfus():
    table = tables.results_table(load.frame(noisy_records()))
    headers = ("img/s fwd", "img/s train", "MFU (measured peak)")
    fwd, train, mfu = (table.header.index(h) for h in headers)
    steady, noisy = table.rows
    assert (steady[fwd], steady[train], steady[mfu]) == ("400", "", "5.0%")
    assert (noisy[fwd], noisy[train], noisy[mfu]) == ("400~", "100~", "5.0%~?")
    assert "~: a noisy timing" in tables.LEGEND
    assert "?: an MFU over a measured matmul peak" in tables.LEGEND
    # The CSV keeps numbers: the flag and the spread are columns of their own.
    header, _, second = table.csv().splitlines()
    values = dict(zip(header.split(","), second.split(","), strict=True))
    assert values["forward.images_per_s"] == "400" and values["forward.latency_noisy"] == "1"
    assert values["forward.latency_rel_iqr"] == "0.4" and values["forward.mfu_suspect"] == "1"
    # A marked number is still a number: right-aligned in LaTeX and HTML.
    assert tables._looks_numeric("5.0%~?") and tables._looks_numeric("1,120~")
    assert '<td class="num">400~</td>' in table.html()


def test_throughput_figure_shows_the_spread_and_rings_noisy_points():
    axes = figures.throughput_vs_resolution(load.frame(noisy_records())).axes[0]
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert {"95% interval", "noisy timing"} <= set(legend)
    bars = [c for c in axes.collections if c.get_gid() == "spread"]
    # forward at 16 and 32 px: from 4 images / 16 ms = 250 img/s to 4 / 8 ms = 500 img/s
    segments = sorted(tuple(map(tuple, s)) for s in bars[0].get_segments())
    assert segments == [((16, 250), (16, 500)), ((32, 250), (32, 500))]
    rings = [c for c in axes.collections if c.get_gid() == "noisy"]
    ringed = sorted(map(tuple, rings[0].get_offsets()))
    assert ringed == [(32, 100), (32, 400)]  # both 32 px timings, not the steady 16 px one


def test_cpu_peak_memory_shows_what_the_phase_added_beside_the_process_peak():
    gib = 2**30
    rows = [
        record(
            "rin-tiny.r16.b4.fp32.forward.eager.cpu",
            images_per_s=400.0,
            peak_rss_bytes=2.5 * gib,
            rss_added_bytes=0.25 * gib,
        ),
        record(
            "rin-tiny.r16.b4.fp32.train_step.eager.cpu",
            images_per_s=100.0,
            peak_rss_bytes=2.0 * gib,
            rss_added_bytes=0.5 * gib,
        ),
        record("rin-tiny.r32.b4.fp32.forward.eager.cpu", images_per_s=400.0, peak_rss_bytes=gib),
    ]
    table = tables.results_table(load.frame(rows))
    peak = table.header.index("peak GiB")
    assert [row[peak] for row in table.rows] == ["2.50 (+0.50)", "1.00"]
    assert "(+x) is what the phase itself added" in tables.LEGEND
    assert tables._looks_numeric("2.50 (+0.50)") and not tables._looks_numeric("2.50 (+x)")


def test_mfu_figure_marks_the_models_whose_mfu_is_doubtful():
    figure = figures.mfu_per_model(load.frame(noisy_records()))
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert sorted(labels) == ["rin-tiny @16", "rin-tiny @32 (~) (?)"]  # the table's marks
    assert "(~): a noisy timing; (?): an MFU over a peak" in figure._suptitle.get_text()
    noisy_only = [
        dataclasses.replace(r, values=r.values | {"mfu_suspect": 0}) for r in noisy_records()
    ]
    figure = figures.mfu_per_model(load.frame(noisy_only))
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert sorted(labels) == ["rin-tiny @16", "rin-tiny @32 (~)"]


def test_markdown_cells_escape_pipes():
    text = tables.markdown_table(("a|b",), [("x | y",)])
    assert text == "| a\\|b |\n|---|\n| x \\| y |\n"


def test_hardware_table_compares_the_shared_cells(small_frame):
    hardware = tables.hardware_table(small_frame)
    # The slower H100 is the base of the speed-ups; each MFU is over its own GPU's peak.
    assert hardware.markdown().splitlines() == [
        "| Model | Res | Phase | Setup | img/s H100 80GB HBM3 | img/s H200 | speed-up H200 "
        "| MFU (measured peak) H100 80GB HBM3 | MFU (measured peak) H200 |",
        "|---|---|---|---|---|---|---|---|---|",
        "| adm-in256 | 256 | forward | bf16 b32 eager | 125 | 180 | 1.44x | 40.0% | 41.0% |",
        "| rin-in256 | 256 | forward | bf16 b32 eager | 1,000 | 1,500 | 1.50x | 25.0% | 27.0% |",
    ]
    # The data-sheet MFU gets a column for each machine that has one in the table (here the H200).
    published = small_frame.copy()
    published["mfu_datasheet"] = published["hardware"].map({"NVIDIA H200": 0.33})
    with_datasheet = tables.hardware_table(published)
    assert (
        with_datasheet.markdown()
        .splitlines()[0]
        .endswith("| MFU (measured peak) H200 | MFU (data sheet) H200 |")
    )
    assert with_datasheet.markdown().splitlines()[2].endswith("| 40.0% | 41.0% | 33.0% |")
    assert with_datasheet.records[0]["mfu_datasheet NVIDIA H200"] == 0.33
    assert hardware.intro.startswith(
        "The same cells on 2 machines. The speed-ups are over the slowest, NVIDIA H100 80GB HBM3 "
    )
    assert hardware.csv().splitlines()[0] == (
        "model,resolution,phase,setup,images_per_s NVIDIA H100 80GB HBM3,images_per_s NVIDIA H200,"
        "speedup_over,speedup NVIDIA H200,mfu NVIDIA H100 80GB HBM3,mfu NVIDIA H200,"
        "warmup NVIDIA H100 80GB HBM3,warmup NVIDIA H200,"
        "warmup_steady_within NVIDIA H100 80GB HBM3,warmup_steady_within NVIDIA H200"
    )


def test_records_without_a_results_row_say_so_in_both_pages():
    from reports import html, md
    from reports.report import compose

    profile = record("rin-tiny.r16.b1.fp32.profile:forward.eager.cpu")
    report = compose([profile], claims=None, with_figures=False)
    assert f"## Results\n\n_{tables.NO_RESULTS}_" in md.page(report)
    assert f"\n\n_{tables.NO_RESULTS}_\n\n" in md.summary(report)  # what `rinbench report` prints
    assert html.escape(tables.NO_RESULTS) in html.page(report)


def test_two_cpu_machines_stay_apart_in_the_table():
    def on(model, speed):
        one = record_json("rin-tiny.r16.b4.fp32.forward.eager.cpu", images_per_s=speed)
        one["env"] |= {"cpu_model": model, "cpu_count": 2}
        return Record.from_json(one)

    alone = load.frame([on("AMD EPYC 7B13", 10.0)])
    assert list(alone["setup"]) == ["cpu fp32 b4 eager"]  # one CPU: the short label
    both = tables.results_table(load.frame([on("AMD EPYC 7B13", 10.0), on("Intel Xeon", 30.0)]))
    assert [(row[2], row[5]) for row in both.rows] == [
        ("AMD EPYC 7B13 (2 CPUs) fp32 b4 eager", "10"),
        ("Intel Xeon (2 CPUs) fp32 b4 eager", "30"),
    ]


def test_missing_metrics_give_empty_cells_not_crashes():
    sparse = [
        record("rin-tiny.r16.b4.fp32.forward.eager.cpu"),  # ok, but no values at all
        record("rin-tiny.r16.b4.fp32.train_step.eager.cpu", status="unsupported"),
        record("adm-tiny.r32.b1.fp32.flops.eager.cpu", status="error"),
        record("dit-tiny.r32.b1.fp32.params.eager.cpu", params=197_400),
    ]
    table = tables.results_table(load.frame(sparse))
    assert table.rows == [
        ("adm-tiny", "32", "–", "", "", "", "", "", "", "", "", ""),
        ("dit-tiny", "32", "–", "197,400", "", "", "", "", "", "", "", ""),
        ("rin-tiny", "16", "cpu fp32 b4 eager", "", "", "", "n/a", "", "", "", "", ""),
    ]
    assert len(table.notes) == 2


# --- loading and schemas -----------------------------------------------------------------------


def test_frame_has_a_row_per_record_and_machine(small_frame):
    assert len(small_frame) == 16  # the same cell on two GPUs stays two rows
    # Who and where, then a column per metric of the table that some record has, in its order
    # (the metrics kept for the record only have none).
    present = [m.key for m in metrics.columns() if m.key in small_frame]
    assert list(small_frame.columns) == [*load.IDENTITY, *present, *load.BREAKDOWNS, load.RECORD]
    assert {"images_per_s", "peak_alloc_bytes", "peak_rss_bytes", "fid_legacy_tf"} <= set(present)
    assert "max_batch" not in small_frame  # nobody measured it
    forward = small_frame[
        (small_frame["preset"] == "rin-in256") & (small_frame["phase"] == "forward")
    ]
    assert sorted(forward["hardware"]) == ["NVIDIA H100 80GB HBM3", "NVIDIA H200"]
    fid = small_frame[small_frame["phase"] == "fid"].iloc[0]
    assert (fid["fid_legacy_tf"], fid["train_macs"]) == (4.6, 1.5e21)
    value, key = load.first_present(small_frame, selection.FID_KEYS)
    assert (value[fid.name], key[fid.name]) == (4.6, "fid_legacy_tf")


def test_a_retried_cell_shows_its_last_record():
    first = record("rin-tiny.r16.b4.fp32.forward.eager.cpu", status="error")
    retried = record("rin-tiny.r16.b4.fp32.forward.eager.cpu", images_per_s=5.0)
    rows = load.frame([first, retried])
    assert len(rows) == 1 and rows.iloc[0]["status"] == "ok"


def test_the_newest_run_wins_whatever_the_order_of_its_file():
    # results/gpu-check/ is read before results/hardware/: a later hardware run still wins.
    cell = "rin-tiny.r16.b4.fp32.forward.eager.cpu"
    newer, older = record_json(cell, images_per_s=5.0), record_json(cell, images_per_s=2.0)
    newer["run"] |= {"id": "run-b", "started": "2026-01-09T00:00:00+00:00"}
    newer, older = Record.from_json(newer), Record.from_json(older)
    assert selection.latest([newer, older]) == [newer]
    assert selection.latest([older, newer]) == [newer]


def test_an_older_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "old.jsonl"
    old = record_json("rin-tiny.r16.b4.fp32.forward.eager.cpu", schema=0)
    path.write_text(json.dumps(old) + "\n")
    with pytest.raises(SchemaError, match="schema version 0; this rinbench reads versions"):
        results.read(path)


def test_an_older_schema_with_an_upgrade_is_read(monkeypatch, tmp_path):
    path = tmp_path / "old.jsonl"
    old = record_json("rin-tiny.r16.b4.fp32.forward.eager.cpu", schema=0, images_per_s=2.0)
    path.write_text(json.dumps(old) + "\n")
    monkeypatch.setitem(record_module.UPGRADES, 0, lambda r: r | {"schema": 1})
    (upgraded,) = results.read(path)
    assert upgraded.schema == record_module.SCHEMA_VERSION
    assert load.frame([upgraded]).iloc[0]["images_per_s"] == 2.0


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "new.jsonl"
    newer = record_json(
        "rin-tiny.r16.b4.fp32.forward.eager.cpu", schema=record_module.SCHEMA_VERSION + 1
    )
    path.write_text(json.dumps(newer) + "\n")
    with pytest.raises(SchemaError, match="upgrade rinbench to read them"):
        results.read(path)


def test_reports_and_claims_import_without_torch():
    code = (
        "import sys, reports, reports.html, reports.md, reports.files, reports.figures, "
        "bench.claims, bench.selection; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# --- figures -------------------------------------------------------------------------------------


def test_cost_exponents_are_fitted_on_log_log_axes(small_frame):
    exponents = figures.cost_exponents(small_frame).set_index("preset")
    # Two resolutions each: k = log2(MACs at 512 / MACs at 256).
    assert exponents.loc["adm-in256", "exponent"] == pytest.approx(1.9889, abs=1e-3)
    assert exponents.loc["rin-in256", "exponent"] == pytest.approx(0.6430, abs=1e-3)


def test_cost_figure_has_log_axes_and_one_line_per_model(small_frame):
    axes = figures.cost_vs_resolution(small_frame).axes[0]
    assert (axes.get_xscale(), axes.get_yscale()) == ("log", "log")
    assert axes.get_xlabel() == "resolution (pixels per side)"
    assert [t.get_text() for t in axes.get_xticklabels()] == ["256", "512"]
    labels = [t.get_text() for t in axes.get_legend().get_texts()]
    assert labels == ["adm-in256: k = 1.99 (top 1.99)", "rin-in256: k = 0.64 (top 0.64)"]
    assert len([line for line in axes.get_lines() if len(line.get_xdata()) == 2]) == 2


def test_throughput_and_memory_figures_plot_every_series(small_frame):
    for draw, label in (
        (figures.throughput_vs_resolution, "img/s (log)"),  # labels of the metric table
        (figures.memory_vs_resolution, "peak GiB (log)"),
    ):
        axes = draw(small_frame).axes[0]
        assert axes.get_ylabel() == label and axes.get_yscale() == "log"
        legend = [t.get_text() for t in axes.get_legend().get_texts()]
        # Several setups: a series is preset · setup; style is the phase.
        assert "rin-in256 · H200 bf16 b32 eager" in legend
        assert "rin-tiny · cpu fp32 b4 eager" in legend
        assert {"forward", "train step"} <= set(legend)


def test_series_get_colours_of_their_own_however_many():
    for count in (3, 14, 32):  # the report over every committed folder draws 32 series
        assert len({tuple(colour) for colour in figures.distinct_colours(count)}) == count


def test_mfu_split_fid_and_hardware_figures(small_frame):
    mfu = figures.mfu_per_model(small_frame).axes[0]
    assert mfu.get_xlabel() == "MFU over the measured peak (%)" and len(mfu.patches) >= 5
    split = figures.rin_compute_split(small_frame).axes[0]
    assert [t.get_text() for t in split.get_yticklabels()] == ["rin-in256 @256", "rin-in256 @512"]
    assert [t.get_text() for t in split.get_legend().get_texts()] == list(figures.RIN_GROUPS)
    fid = figures.fid_vs_compute(small_frame).axes[0]
    assert fid.get_xscale() == "log" and fid.get_ylabel() == "FID (fid_legacy_tf)"
    hardware = figures.hardware_comparison(small_frame).axes[0]
    legend = [t.get_text() for t in hardware.get_legend().get_texts()]
    assert legend == ["NVIDIA H100 80GB HBM3", "NVIDIA H200"]


def test_figures_without_their_data_are_skipped_with_a_reason():
    cpu_only = load.frame(results.read(QUICK_CPU))
    rendered = {f.name: f for f in figures.render_all(cpu_only)}
    assert set(rendered) == set(figures.FIGURES)
    assert rendered["fid_vs_compute"].skipped.startswith("needs records of phase 'fid'")
    assert rendered["hardware_comparison"].skipped == (
        "needs the same timed cells run on two or more machines"
    )
    drawn = [f for f in rendered.values() if not f.skipped]
    assert len(drawn) == 6  # the main claim's factors in MACs: the quick suite counts them
    for figure in drawn:
        assert figure.png.startswith(b"\x89PNG") and figure.svg.lstrip().startswith("<?xml")


def test_a_new_metric_reaches_the_frame_the_csv_and_the_figure_data(monkeypatch):
    # One row in the metric table, nothing else: load, tables and figures read the table.
    foo = metrics.Metric(
        "foo_ms", "ms", metrics.TIME, metrics.LOWER, "foo", compare=metrics.THRESHOLD
    )
    monkeypatch.setattr(metrics, "METRICS", (*metrics.METRICS, foo))
    monkeypatch.setitem(metrics.BY_KEY, foo.key, foo)
    measured = [
        record("rin-tiny.r16.b4.fp32.forward.eager.cpu", images_per_s=10.0, foo_ms=12.5),
        record("rin-tiny.r32.b4.fp32.forward.eager.cpu", images_per_s=5.0, foo_ms=40.0),
        record("rin-tiny.r32.b4.fp32.train_step.eager.cpu", images_per_s=2.0),
    ]
    frame = load.frame(measured)
    assert list(frame.columns).index("foo_ms") > list(frame.columns).index("images_per_s")
    assert frame["foo_ms"].tolist()[:2] == [12.5, 40.0]
    header, *rows = tables.results_table(frame).csv().splitlines()
    column = header.split(",").index("forward.foo_ms")
    assert [row.split(",")[column] for row in rows] == ["12.5", "40"]
    assert "train_step.foo_ms" not in header  # no train_step record has it
    data = figures.timed_values(frame, ("foo_ms",))
    assert data[["resolution", "value"]].values.tolist() == [[16, 12.5], [32, 40.0]]
    axes = figures.per_resolution(frame, keys=("foo_ms",), title="foo", missing="").axes[0]
    assert axes.get_ylabel() == "foo (log)"


# --- the whole report ------------------------------------------------------------------------------


def test_report_folder_holds_every_format(small_report, tmp_path):
    written = reports.write(small_report, tmp_path / "out")
    names = sorted(str(p.relative_to(tmp_path / "out")) for p in written)
    assert names == sorted(
        [
            "report.md",
            "report.html",
            "results.csv",
            "results.tex",
            "claims.csv",
            "claims.tex",
            "exponents.csv",
            "hardware.csv",
            "hardware.tex",
            *(f"figures/{name}.{ext}" for name in figures.FIGURES for ext in ("png", "svg")),
        ]
    )
    text = (tmp_path / "out" / "report.md").read_text()
    assert GOLDEN_TABLE in text
    assert "![Cost vs resolution](figures/cost_vs_resolution.png)" in text
    assert "FLOP convention" in text and "| ratio-adm-rin-256: " in text
    latex = (tmp_path / "out" / "results.tex").read_text()  # the failures beside the table
    assert "(reasons in report.md)" in latex and "% Did not finish:\n% rin-in256 256 px" in latex
    assert not list((tmp_path / "out").rglob("*.partial"))


def test_html_is_self_contained_and_escaped(small_report):
    from reports import html

    page = html.page(small_report)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page  # the error message's <script> arrives as text
    assert "RuntimeError: &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; friends" in page
    assert "<title>small &lt;results&gt; &amp; co</title>" in page
    assert page.count('src="data:image/png;base64,') == len(figures.FIGURES)
    assert "http://" not in page and "https://" not in page


def test_the_report_puts_the_main_claim_first_and_each_caveat_once(small_report):
    from reports import html, md

    page = md.page(small_report)
    assert page.index("## The paper's main claim") < page.index("## Results")
    assert "| Panel | Claimed | MACs | Wall-clock |" in page
    assert "- RIN paper: 5 hold, 3 fail, 3 inconclusive, 24 cannot be checked" in page
    assert page.index("### RIN paper: ") < page.index("### baseline checks: ")
    assert page.count("rin-in256 is reconstructed") == 1
    assert "### Caveats, once per preset" in page
    web = html.page(small_report)
    assert web.index('<section id="headline">') < web.index('<table id="results">')
    claims_table = web[
        web.index('<table id="claims">') : web.index("</table>", web.index('<table id="claims">'))
    ]
    rows = claims_table.count("<tr>") - 1  # the header's
    assert rows == len(small_report.verdicts) == claims_table.count("<details>")
    assert claims_table.count('<tr class="group">') == 2
    assert "<details open" not in web
    assert web.count("rin-in256 is reconstructed") == 1
    assert '<ul id="caveats"><li>rin-in256 is reconstructed' in web


def test_report_builds_from_a_cpu_only_run():
    report = reports.compose(results.read(QUICK_CPU), title="quick on a CPU")
    assert len(report.table.rows) == 44 and not report.table.notes
    assert report.hardware is None
    summary = reports.summary_markdown(report)
    assert "| rin-tiny | 16 | cpu fp32 b4 eager | 103,536 |" in summary
    assert (
        "Claims: RIN paper: 8 hold, 10 fail, 0 inconclusive, 13 cannot be checked; baseline "
        "checks: 33 hold, 0 fail, 0 inconclusive, 5 cannot be checked." in summary
    )
    assert report.exponents["preset"].tolist() == ["adm-in256", "dit-xl-2", "rin-in256"]


# --- the CLI ---------------------------------------------------------------------------------------


def test_cli_report_writes_the_folder_and_prints_the_table(tmp_path, capsys):
    results_file = tmp_path / "small.jsonl"
    results_file.write_text(SMALL.read_text())
    assert cli.main(["report", str(results_file), "--title", "small"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("# small\n\n16 records from runs ")
    assert GOLDEN_TABLE in captured.out
    assert "Claims: " in captured.out
    assert (tmp_path / "small-report" / "report.html").is_file()
    assert captured.err.startswith(f"rinbench: report written to {tmp_path / 'small-report'}")


def test_cli_report_refuses_an_older_schema(tmp_path, capsys):
    path = tmp_path / "old.jsonl"
    path.write_text(
        json.dumps(record_json("rin-tiny.r16.b4.fp32.forward.eager.cpu", schema=0)) + "\n"
    )
    assert cli.main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    # The one reader names the file and line of the record it cannot read.
    assert err.startswith(
        f"rinbench: error: {path}:1: results written with schema version 0; this rinbench reads "
        "versions 1 to"
    )
    assert err.count("\n") == 1


def test_cli_claims_prints_verdicts_and_the_convention(capsys):
    assert cli.main(["claims", str(SMALL)]) == 0
    out = capsys.readouterr().out
    assert (
        "HOLDS         ratio-adm-rin-256 [wall-clock forward on H100 80GB HBM3 (bf16, b32, eager)]: "
        "reported 6.62x, measured 8.00x [7.80, 8.20] (measured / reported 1.208)\n"
        "              holds at 1.21× the claimed 6.62×, on a reconstruction of rin-in256 that "
        "misses the paper's cost by 27% (0.73×)\n" in out
    )
    assert "CANNOT CHECK  rin-k600-r64-fid [FVD]: reported 10.8" in out
    assert "FLOP convention:" in out and "one FLOP per multiply-add (MACs)" in out
    assert out.rstrip().endswith("cannot be checked")


def test_cli_claims_puts_the_main_claim_first_then_each_group_with_its_tally(capsys):
    assert cli.main(["claims", str(SMALL)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("The paper's main claim: RIN is up to 10x more efficient")
    assert (
        lines[1]
        == "  ImageNet 128 px (adm-in128 / rin-in128): MACs not counted; wall-clock not timed"
    )
    assert lines[2].startswith(
        "  ImageNet 256 px (adm-in256 / rin-in256): MACs 9.21×: holds at 1.39× the claimed 6.62×, "
        "on a reconstruction of rin-in256 that misses the paper's cost by 27% (0.73×); wall-clock "
        "on H100 80GB HBM3 (bf16, b32, eager), forward: rin-in256 8.00× [7.80, 8.20] as fast as "
        "adm-in256: holds at 1.21× the claimed 6.62×"
    )
    assert lines[4].startswith("  Kinetics-600 video 16x64x64 (vdm-k600 / rin-k600): MACs not")
    assert lines[5].startswith("  up to 10× (the largest): MACs 9.21× (adm-in256 / rin-in256)")
    assert lines[7:9] == [
        "RIN paper: 5 hold, 3 fail, 3 inconclusive, 24 cannot be checked",
        "baseline checks: 2 hold, 0 fail, 0 inconclusive, 36 cannot be checked",
    ]
    assert lines.index("RIN paper:") < lines.index("baseline checks:")
    # The caveat about rin-in256 is said once, however many verdicts rest on it.
    text = "\n".join(lines)
    assert text.count("rin-in256 is reconstructed") == 1
    assert lines[-1] == (
        "73 verdicts on 64 claims: 7 hold, 3 fail, 3 inconclusive, 60 cannot be checked"
    )


def test_cli_claims_markdown_starts_with_the_headline_table(capsys):
    assert cli.main(["claims", str(SMALL), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("**RIN is up to 10x more efficient than 2D and 3D U-Nets")
    assert "| Panel | Claimed | MACs | Wall-clock |" in out
    assert "| ImageNet 128 px (adm-in128 / rin-in128) | 2.77x | not counted | not timed |" in out
    assert "### RIN paper: 5 hold, 3 fail, 3 inconclusive, 24 cannot be checked" in out
    assert out.count("rin-in256 is reconstructed") == 1


def test_cli_claims_csv_and_unknown_claims_file(capsys):
    assert cli.main(["claims", str(SMALL), "--format", "csv"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.startswith("id,kind,claim,basis,convention,tolerance")
    assert header.endswith(
        ",verdict,detail,caveat,source,origin,phrase,group,setup,noisy,low,high,rounds,interval"
    )
    assert cli.main(["claims", str(SMALL), "--claims", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown claims file 'nope'; built-in: rin_paper" in err and err.count("\n") == 1


def test_cli_claims_json_keeps_the_machine_word_beside_the_phrase(capsys):
    assert cli.main(["claims", str(SMALL), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["verdict"] for row in rows} == {"holds", "fails", "inconclusive", "cannot check"}
    clock = next(r for r in rows if r["id"] == "ratio-adm-rin-256" and r["setup"])
    assert clock["setup"] == "H100 80GB HBM3 (bf16, b32, eager)" and clock["noisy"] is False
    assert clock["phrase"].startswith("holds at 1.21× the claimed 6.62×")
    assert (round(clock["low"], 2), round(clock["high"], 2), clock["rounds"]) == (7.8, 8.2, 3)
    apart = next(r for r in rows if r["id"] == "ratio-adm-rin-256" and "H200" in r["setup"])
    assert apart["verdict"] == "inconclusive" and apart["low"] is None
    assert apart["interval"] == "timed apart, not interleaved"
    assert clock["group"] == "RIN paper"


def test_cli_claims_on_a_missing_file_says_so_in_one_line(tmp_path, capsys):
    assert cli.main(["claims", str(tmp_path / "absent.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rinbench: error: ") and err.count("\n") == 1
    assert "absent.jsonl" in err
    assert cli.main(["claims", str(SMALL), "--claims", str(tmp_path / "absent.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rinbench: error: ") and err.count("\n") == 1 and "absent.toml" in err


def test_fid_records_are_kept_per_checkpoint(small):
    late = next(r for r in small if r.cell.phase == "fid")
    early = dataclasses.replace(
        late,
        values=late.values | {"fid_legacy_tf": 9.5, "train_macs": 1.5e20, "checkpoint_step": 60000},
    )
    rows = load.frame([*small, early])
    assert sorted(rows[rows["phase"] == "fid"]["fid_legacy_tf"]) == [4.6, 9.5]
    # The table shows the checkpoint trained longest, the figure every checkpoint.
    assert tables.results_table(rows).rows[4][-1] == "4.6"
    line = next(l for l in figures.fid_vs_compute(rows).axes[0].get_lines() if len(l.get_xdata()))
    assert list(line.get_xdata()) == [1.5e20, 1.5e21] and list(line.get_ydata()) == [9.5, 4.6]


def test_a_fid_record_stored_by_rinbench_fid_reaches_the_table_and_figure(tmp_path):
    from bench.fid.evaluate import store_result

    def result(step, value):  # the shape of bench.fid.evaluate.fid_for_checkpoint's result, trimmed
        return {
            "preset": "rin-tiny",
            "resolution": 16,
            "checkpoint_step": step,
            "train_macs": step * 1e12,
            "weights": "ema",
            "steps": 100,
            "n_samples": 64,
            "fid_legacy_tf": value,
            "kid_mean_legacy_tf": 0.01,
            "reference": {"name": "builtin"},
        }

    for step, value in ((100, 300.0), (400, 120.0)):
        store_result(result(step, value), tmp_path, batch=8, device="cpu")
    frame = load.frame(results.read(tmp_path))
    assert tables.results_table(frame).rows == [
        ("rin-tiny", "16", "–", "", "", "", "", "", "", "", "", "120")
    ]
    line = next(l for l in figures.fid_vs_compute(frame).axes[0].get_lines() if len(l.get_xdata()))
    assert list(line.get_ydata()) == [300.0, 120.0]
