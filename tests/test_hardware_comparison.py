"""The hardware comparison: the hardware suite gives every device the same cells, the GPU check
measures them too, and `rinbench report` over the runs of a CPU and two GPUs (GPU records made here,
no GPU needed) shows them side by side, under one heading, with a speed-up and an MFU per machine
(over its measured peak, and over its data sheet's for the GPUs)."""

import json
from pathlib import Path

from bench import cli, suites
from bench.cell import Cell
from bench.record import Record

CPU = ("AMD EPYC 7B13", 2)
CPU_NAME = "CPU AMD EPYC 7B13 (2 cpus)"
H100, H200 = "NVIDIA H100 80GB HBM3", "NVIDIA H200"


def timed_cells(device: str) -> list[Cell]:
    return [c for c in suites.load("hardware", device).cells if c.phase not in ("params", "flops")]


def test_the_hardware_suite_has_the_same_cells_on_every_device():
    on_cpu, on_gpu = timed_cells("cpu"), timed_cells("cuda")
    assert [c.id.removesuffix(".cpu") for c in on_cpu] == [
        c.id.removesuffix(".cuda") for c in on_gpu
    ]
    assert {c.preset for c in on_cpu} == {"dit-b-2", "adm-in64", "rin-in64"}
    assert {(c.dtype, c.batch, c.mode) for c in on_cpu} == {("fp32", 4, "eager")}
    assert {c.phase for c in on_cpu} == {"forward", "train_step"}
    assert suites.load("hardware").plan[0].cell.device == "cpu"  # the default device


def test_the_gpu_check_measures_the_hardware_cells_as_the_suite_does():
    # The same cells with the same settings: a GPU lease's records are the suite's measurement.
    check = set(suites.load("gpu-check").plan)
    hardware = [
        p for p in suites.load("hardware", "cuda").plan if p.cell.phase in ("forward", "train_step")
    ]
    assert hardware and all(planned in check for planned in hardware)
    # After the cells of the throughput targets, before the image claims' pairs and the other
    # compiled steps: a budget cut short reaches the targets first, then the comparison.
    order = [planned.cell.id for planned in suites.load("gpu-check").plan]
    targets = [
        "dit-xl-2.r256.b64.bf16.train_step.compile.cuda",
        "adm-in256.r256.b16.bf16.train_step.eager.cuda",
        "rin-in256.r256.b32.bf16.train_step.eager.cuda",
        "rin-k600.r64.b32.bf16.forward.eager.cuda",
    ]
    first, last = (f(order.index(p.cell.id) for p in hardware) for f in (min, max))
    assert max(map(order.index, targets)) < first
    assert last < order.index("adm-in256.r256.b32.bf16.forward.eager.cuda")
    assert last < order.index("rin-in256.r256.b32.bf16.train_step.compile.cuda")


def machine_record(cell: Cell, run: str, *, gpu: str | None = None, **values) -> Record:
    """A record of `cell` as a run on a CPU (`CPU`) or on the GPU named `gpu` writes it."""
    env = {"device": cell.device}
    env |= {"gpu": {"name": gpu}} if gpu else {"cpu_model": CPU[0], "cpu_count": CPU[1]}
    model = {"family": cell.preset.split("-")[0], "params": 1, "source": "released config: test"}
    data = {
        "schema": 1,
        "run": {"id": run, "suite": "hardware"},
        "cell": cell.as_dict(),
        "settings": {},
        "model": model,
        "env": env,
        "status": "ok",
        "values": values,
        "error": None,
    }
    return Record.from_json(data)


def write_run(folder: Path, records: list[Record]) -> None:
    folder.mkdir(parents=True)
    lines = [json.dumps(r.to_json()) for r in records]
    (folder / f"{records[0].run.id}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_three_machines(folder: Path) -> None:
    """The hardware suite's timed cells as three machines leave them, a run folder each (cpu, H100,
    H200): img/s 1 to 6 on the CPU, 50x that on the H100 and 80x on the H200; each MFU over its
    machine's own peak, and the GPUs' over the data sheet too; every other CPU timing noisy."""
    cpu_cells, gpu_cells = timed_cells("cpu"), timed_cells("cuda")
    speeds = [1.0 + number for number in range(len(cpu_cells))]
    write_run(
        folder / "cpu",
        [
            machine_record(cell, "run-cpu", images_per_s=speed, mfu=0.5, latency_noisy=number % 2)
            for number, (cell, speed) in enumerate(zip(cpu_cells, speeds, strict=True))
        ],
    )
    for gpu, factor, mfu in ((H100, 50.0, 0.02), (H200, 80.0, 0.03)):
        name = gpu.split()[1]
        write_run(
            folder / name,
            [
                machine_record(
                    cell,
                    f"run-{name}",
                    gpu=gpu,
                    images_per_s=speed * factor,
                    mfu=mfu,
                    mfu_datasheet=10 * mfu,  # fp32 cells over the fp32 data-sheet peak
                )
                for cell, speed in zip(gpu_cells, speeds, strict=True)
            ],
        )


def test_report_sets_a_cpu_and_two_gpus_side_by_side(tmp_path, capsys):
    cpu_cells = timed_cells("cpu")
    write_three_machines(tmp_path)
    out = tmp_path / "report"
    folders = [str(tmp_path / name) for name in ("cpu", "H100", "H200")]
    assert cli.main(["report", *folders, "--out", str(out)]) == 0
    capsys.readouterr()

    page = (out / "report.md").read_text(encoding="utf-8")
    assert page.count("Hardware comparison") == 1 and "\n## Hardware comparison\n" in page
    assert "### Images per second per machine" in page  # the figure, under Figures
    section = page[page.index("## Hardware comparison") :]
    section = section[: section.index("\n## ", 1)]
    assert f"The speed-ups are over the slowest, {CPU_NAME} " in section
    table = [line for line in section.splitlines() if line.startswith("| ")]
    assert table[0] == (
        f"| Model | Res | Phase | Setup | img/s {CPU_NAME} | img/s H100 80GB HBM3 | img/s H200 "
        f"| speed-up H100 80GB HBM3 | speed-up H200 | MFU (measured peak) {CPU_NAME} "
        "| MFU (measured peak) H100 80GB HBM3 | MFU (measured peak) H200 "
        "| MFU (data sheet) H100 80GB HBM3 | MFU (data sheet) H200 |"
    )  # a CPU has no data sheet here: no column of blanks for it
    rows = table[1:]
    assert len(rows) == len(cpu_cells)  # every cell of the suite, once
    assert rows[0] == (
        "| adm-in64 | 64 | forward | fp32 b4 eager | 3 | 150 | 240 | 50.00x | 80.00x "
        "| 50.0% | 2.0% | 3.0% | 20.0% | 30.0% |"
    )
    assert rows[1].startswith("| adm-in64 | 64 | train_step | fp32 b4 eager | 4~ | 200 | 320 |")
    assert "| 50.0%~ | 2.0% |" in rows[1]  # a noisy CPU timing and its MFU keep their mark

    web = (out / "report.html").read_text(encoding="utf-8")
    assert web.count("Hardware comparison") == 1
    assert '<h3 id="hardware_comparison">Images per second per machine</h3>' in web
    hardware = web[web.index('<table id="hardware">') :]
    hardware = hardware[: hardware.index("</table>")]
    assert "<th>speed-up H200</th>" in hardware and "<th>MFU (data sheet) H200</th>" in hardware
    assert hardware.count("<tr>") == 1 + len(cpu_cells)

    csv_header = (out / "hardware.csv").read_text(encoding="utf-8").splitlines()[0]
    assert f",speedup_over,speedup {H100},speedup {H200},mfu {CPU_NAME}," in csv_header
    assert f"\nadm-in64,64,forward,fp32 b4 eager,3,150,240,{CPU_NAME},50,80," in (
        out / "hardware.csv"
    ).read_text(encoding="utf-8")
    machines = (CPU_NAME, H100, H200)
    assert csv_header.endswith(
        ",mfu_datasheet NVIDIA H100 80GB HBM3,mfu_datasheet NVIDIA H200,"
        + ",".join(f"{key} {m}" for key in ("warmup", "warmup_steady_within") for m in machines)
    )  # records that keep no settings: the warm-up columns blank


def test_a_cell_the_slowest_machine_did_not_run_has_speed_ups_over_the_slowest_that_did(tmp_path):
    # A GPU check's cell beside a CPU's hardware suite: the two GPUs ran it, the CPU (the table's
    # base) did not; its speed-up is the H200's over the H100, named as such, not a blank.
    from bench import results
    from reports import load, tables

    write_three_machines(tmp_path)
    gpu_only = Cell.from_id("rin-in256.r256.b32.bf16.forward.eager.cuda")
    write_run(
        tmp_path / "check",
        [
            machine_record(gpu_only, "check-H100", gpu=H100, images_per_s=1000.0, mfu=0.4),
            machine_record(gpu_only, "check-H200", gpu=H200, images_per_s=1500.0, mfu=0.45),
        ],
    )
    table = tables.hardware_table(load.frame(results.read(tmp_path)))
    assert "; a cell it did not run, over the slowest machine that ran it, named beside" in (
        table.intro
    )
    row = next(row for row in table.rows if row[0] == "rin-in256")
    assert row[4:9] == ("", "1,000", "1,500", "", "1.50x over H100 80GB HBM3")
    # Over the slower on that cell, though the table's order (each machine's own cells) differs.
    faster_h100 = load.frame(results.read(tmp_path)).assign(
        images_per_s=lambda f: f["images_per_s"].where(
            ~((f["preset"] == "rin-in256") & (f["hardware"] == H100)), 2000.0
        )
    )
    row = next(row for row in tables.hardware_table(faster_h100).rows if row[0] == "rin-in256")
    assert row[4:9] == ("", "2,000", "1,500", "1.33x over H200", "")
    record = next(r for r in table.records if r["model"] == "rin-in256")
    assert record["speedup_over"] == H100 and record[f"speedup {H200}"] == 1.5
    assert record[f"speedup {H100}"] is None
    cpu_row = next(r for r in table.records if r["model"] == "adm-in64")
    assert cpu_row["speedup_over"] == CPU_NAME and cpu_row[f"speedup {H100}"] == 50.0


def test_the_gpu_check_summary_sets_its_run_beside_the_committed_runs_of_other_machines(
    tmp_path, capsys
):
    # check.sh's last call names the committed runs (--beside): an H100 check's hardware cells
    # then stand beside a CPU's hardware suite and an H200's check in summary.md, no report needed.
    from helpers import load_script

    summary = load_script("benchmarks/gpu/summary.py")
    write_three_machines(tmp_path / "committed")
    check = tmp_path / "check"
    (check / "results").mkdir(parents=True)
    (tmp_path / "committed" / "H100").rename(check / "results" / "gpu-check")  # this run's
    beside = [tmp_path / "committed" / name for name in ("cpu", "H200")]
    assert summary.main([str(check), *(f"--beside={path}" for path in beside)]) == 0
    section = capsys.readouterr().out.split("## Hardware comparison\n")[1].split("\n## ")[0]
    assert f"This run beside {beside[0]}, {beside[1]} (their records of this run's own" in section
    assert f"The speed-ups are over the slowest, {CPU_NAME} " in section
    rows = [line for line in section.splitlines() if line.startswith("| adm-in64 | 64 | forward")]
    assert rows == [
        "| adm-in64 | 64 | forward | fp32 b4 eager | 3 | 150 | 240 | 50.00x | 80.00x "
        "| 50.0% | 2.0% | 3.0% | 20.0% | 30.0% |"
    ]
    # A committed run of this run's own kind of GPU does not fill in the cells this run missed.
    missed = Cell.from_id("rin-in256.r256.b32.bf16.forward.eager.cuda")
    write_run(tmp_path / "old-H100", [machine_record(missed, "o", gpu=H100, images_per_s=1.0)])
    write_run(tmp_path / "H200-2", [machine_record(missed, "n", gpu=H200, images_per_s=2.0)])
    more = [f"--beside={tmp_path / name}" for name in ("old-H100", "H200-2")]
    assert summary.main([str(check), *more]) == 0
    assert "| rin-in256 |" not in capsys.readouterr().out
    # A committed record this rinbench cannot read costs the section, not the summary.
    (tmp_path / "newer").mkdir()
    (tmp_path / "newer" / "run.jsonl").write_text('{"schema": 999}\n', encoding="utf-8")
    assert summary.main([str(check), f"--beside={tmp_path / 'newer'}"]) == 0
    out = capsys.readouterr().out
    assert "\nNot drawn: SchemaError: " in out and "## Skipped by the time budget" in out
    # A first call of two names nothing beside: no section.
    assert summary.main([str(check)]) == 0
    assert "## Hardware comparison" not in capsys.readouterr().out


def test_gpus_timed_under_different_warm_up_rules_are_named_in_the_comparison(tmp_path):
    """An H200 run with a fixed warm-up beside an H100 run whose warm-ups end once steady: the
    table says which rule timed which GPU; one rule on every GPU, or a CPU's own, says nothing."""
    from bench import results
    from reports import load, tables

    def timed_with(name: str, settings: dict) -> None:
        run_file = next((tmp_path / name).glob("*.jsonl"))
        lines = [json.loads(line) for line in run_file.read_text(encoding="utf-8").splitlines()]
        for line in lines:
            line["settings"] = settings
        run_file.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    def intro() -> str:
        return tables.hardware_table(load.frame(results.read(tmp_path))).intro

    write_three_machines(tmp_path)
    assert "warmed up by different rules" not in intro()
    # One rule on both GPUs, another on the CPU (its suite's own): nothing to say. A key a record
    # lacks reads as its default (warmup 3).
    timed_with("cpu", {"warmup": 0})
    timed_with("H100", {"warmup": 3, "warmup_steady_within": None})
    timed_with("H200", {"min_repeats": 10})
    assert "warmed up by different rules" not in intro()
    timed_with("H100", {"warmup": 5, "warmup_steady_within": 0.02})
    timed_with("H200", {"warmup": 5})
    # The CSV keeps every machine's rule on every row, the CPU's too; a key a record lacks is
    # its default (warmup_steady_within: none, a fixed count).
    record = tables.hardware_table(load.frame(results.read(tmp_path))).records[0]
    assert [record[f"warmup {m}"] for m in (CPU_NAME, H100, H200)] == [0, 5, 5]
    steady = [record[f"warmup_steady_within {m}"] for m in (CPU_NAME, H100, H200)]
    assert steady == [None, 0.02, None]
    assert intro().endswith(
        " The GPUs' timings warmed up by different rules, which a speed-up between them includes: "
        "H100 80GB HBM3 up to 5 warm-up calls, ending at the first within 2% of the one before; "
        "H200 5 warm-up calls."
    )
    # One GPU whose older run fills what a newer one missed: its own rules, by a finer fraction.
    older = next((tmp_path / "H100").glob("*.jsonl"))
    lines = older.read_text(encoding="utf-8").splitlines()
    newer = [json.loads(line) for line in lines[:2]]
    for line in newer:
        line["run"]["id"] = "run-H100-newer"
        line["settings"] = {"warmup": 5, "warmup_steady_within": 0.004}
    older.write_text("\n".join(lines[2:]) + "\n", encoding="utf-8")
    (tmp_path / "H100" / "run-H100-newer.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in newer), encoding="utf-8"
    )
    next((tmp_path / "H200").glob("*.jsonl")).unlink()
    assert intro().endswith(
        " This GPU's cells warmed up by different rules: H100 80GB HBM3 up to 5 warm-up calls, "
        "ending at the first within 0.4% of the one before or up to 5 warm-up calls, ending at "
        "the first within 2% of the one before."
    )
