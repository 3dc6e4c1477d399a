"""The rinbench CLI: the quick suite end to end, the report, and every bad input as one clear line."""

import io
import json
import re
import subprocess
import sys

import pytest
import torch
from helpers import rinbench, stderr_on_a_terminal

from bench import cli, registry, results
from bench.errors import MAX_ERROR_CHARS
from bench.record import SCHEMA_VERSION

# Two timed cells in their own processes and one count in the runner's: the real measurement.
QUICK_ONLY = ["--only", "rin-tiny.*", "--only", "dit-s-8.*.params.*"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quick")
    done = rinbench("run", *QUICK_ONLY, cwd=folder)
    return folder, done


@pytest.mark.slow
def test_run_quick_end_to_end(quick_run):
    folder, done = quick_run
    assert done.returncode == 0, done.stderr
    (run_file,) = (folder / "results" / "quick").glob("*.jsonl")
    records = results.read(run_file)
    assert sorted(r.cell.id for r in records) == [
        "dit-s-8.r256.b1.fp32.params.eager.cpu",
        "rin-tiny.r16.b4.fp32.forward.eager.cpu",
        "rin-tiny.r16.b4.fp32.train_step.eager.cpu",
    ]
    for record in records:
        assert record.status == "ok", record.error
        assert record.run.id == run_file.stem and record.run.suite == "quick"
        assert record.env["device"] == "cpu" and record.model.family in ("rin", "dit")
    forward = next(r for r in records if r.cell.phase == "forward")
    assert forward.values["images_per_s"] > 0 and forward.values["matmul_peak_tflops"] > 0

    report = run_file.with_suffix(".md").read_text()
    assert done.stdout == report
    assert (
        "| Model | Res | Setup | Params | GMACs | img/s fwd | img/s train | peak GiB "
        "| MFU (measured peak) | MFU (data sheet) | J/img | FID |" in report
    )
    page = run_file.with_suffix(".html").read_text()
    assert page.startswith("<!DOCTYPE html>") and 'id="results"' in page
    assert "| dit-s-8 | 256 | – | 33.1M |" in report
    assert "| rin-tiny | 16 | cpu fp32 b4 eager | 103,536 |" in report
    # stderr is not a terminal here: one line per cell, no bar's carriage returns.
    assert "[3/3] ok: rin-tiny.r16.b4.fp32.train_step.eager.cpu" in done.stderr
    assert "\r" not in done.stderr and "Traceback" not in done.stderr


def test_the_progress_bar_on_a_terminal_shows_the_cell_and_an_eta(monkeypatch):
    from bench.cell import Cell
    from bench.progress import CellProgress
    from bench.record import Outcome

    terminal = stderr_on_a_terminal(monkeypatch)
    shown = CellProgress("quick", 2, enabled=True)
    cell = Cell("rin-tiny", 16, 4)
    shown.start(cell)
    shown.done(cell, Outcome("ok"))
    shown.close()
    text = terminal.getvalue()
    assert cell.id in text and "<" in text  # the current cell and [elapsed<remaining]
    assert "[1/2]" not in text  # no log lines beside the bar


def test_report_reads_folders_and_writes_beside_them(quick_run, capsys):
    folder, _ = quick_run
    assert cli.main(["report", str(folder / "results")]) == 0
    out = capsys.readouterr().out
    assert "| rin-tiny | 16 |" in out
    written = folder / "results" / "report"
    assert "| rin-tiny | 16 |" in (written / "report.md").read_text()
    for name in ("report.html", "results.csv", "results.tex", "claims.csv", "claims.tex"):
        assert (written / name).is_file(), name


def test_report_skips_a_truncated_line_with_a_warning(quick_run, tmp_path, capsys):
    folder, _ = quick_run
    (run_file,) = (folder / "results" / "quick").glob("*.jsonl")
    cut = tmp_path / "cut.jsonl"
    text = run_file.read_text()
    cut.write_text(text[: len(text) - 100])
    assert cli.main(["report", str(cut)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(
        f"rinbench: warning: {cut}:3: skipped a line that is not a valid record"
    )
    assert "2 records from run" in captured.out
    assert (tmp_path / "cut-report" / "report.html").is_file()


def test_resume_of_a_finished_run_measures_nothing(quick_run):
    folder, _ = quick_run
    again = rinbench("run", "quick", "--resume", *QUICK_ONLY, "--no-progress", cwd=folder)
    assert again.returncode == 0, again.stderr
    assert "0 of 3 cells to measure, 3 already recorded" in again.stderr
    (run_file,) = (folder / "results" / "quick").glob("*.jsonl")
    assert len(results.read(run_file)) == 3


def test_bad_suite_in_a_subprocess_is_one_line_exit_2_and_writes_nothing(tmp_path):
    done = rinbench("run", "quik", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2
    assert (
        done.stderr
        == "rinbench: error: unknown suite 'quik'; valid: ci, claims, gpu-check, hardware, levers, memory, norms, paper, peers, quick, scaling (or a path to a .toml file)\n"
    )
    assert not (tmp_path / "out").exists()


def suite_file(tmp_path, text):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return str(path)


def text_file(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def resumed_from(text):
    """The arguments of a run that resumes a file holding `text` (bench.results.read_run_file)."""
    return lambda p: [
        *["run", "quick", "--only", "adm-small.*"],
        *["--resume", text_file(p / "garbage.jsonl", text)],
    ]


def resumed_into(out):
    """The arguments of a run that resumes elsewhere/quick/r.jsonl with --out `out`."""
    return lambda p: [
        *["run", "quick", "--resume", text_file(p / "elsewhere" / "quick" / "r.jsonl", "")],
        *["--out", str(p / out)],
    ]


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (
            lambda p: ["run", "nosuch"],
            "unknown suite 'nosuch'; valid: ci, claims, gpu-check, hardware, levers, memory, norms, paper, peers, quick, scaling",
        ),
        (lambda p: ["run", suite_file(p, "presets = [\n")], "mine.toml is not valid TOML: "),
        (
            lambda p: ["run", suite_file(p, 'presets = ["dit-xxl"]\nphases = ["forward"]')],
            "mine.toml: unknown preset 'dit-xxl'; known: adm-in128,",
        ),
        (
            lambda p: [
                "run",
                suite_file(p, 'presets = ["dit-tiny"]\nphases = ["forward"]\ndtypes = ["fp64"]'),
            ],
            "mine.toml: unknown dtype 'fp64'; valid: fp32, tf32, bf16, fp16",
        ),
        (
            lambda p: ["run", suite_file(p, 'presets = ["dit-tiny"]\nphases = ["speed"]')],
            "mine.toml: unknown phase 'speed'; valid: params, flops, forward, train_step, sample, fid",
        ),
        (lambda p: ["run", str(p / "absent.toml")], "no suite file at "),
        (lambda p: ["run", "quick", "--only", "nothing*"], "--only nothing* matches none of the"),
        (lambda p: ["run", "quick", "--resume", str(p / "old.jsonl")], "no run file to resume at "),
        (  # a missing file is named as missing, not as lying outside --out
            lambda p: ["run", "quick", "--out", str(p / "x"), "--resume", str(p / "old.jsonl")],
            "no run file to resume at ",
        ),
        (lambda p: ["run", "quick", "--resume"], "no run to resume in "),
        (
            lambda p: ["run", "quick", "--only", "rin-tiny.*", "--out", str(p / "a-file")],
            "cannot write results to ",
        ),
        (lambda p: ["report", str(p / "nothing.jsonl")], "no results file or folder at "),
        (lambda p: ["run", "quick", "--retry-failed"], "--retry-failed retries the failed cells"),
        # Not a run file: a JSON line that is no record, a notes file.
        (resumed_from('{"a": 1}\n'), "garbage.jsonl:1: not a rinbench result record ('schema'"),
        (resumed_from("hello\n"), "garbage.jsonl:1: not a rinbench result record (Expecting"),
        (
            resumed_into("results"),
            "--resume continues the run file where it lies, so --out must be ",
        ),
        # --out is the folder above the suite's: the file's own folder is refused, saying so.
        (resumed_into("elsewhere/quick"), "elsewhere (DIR of DIR/SUITE/RUN_FILE), not "),
        (
            lambda p: [
                "run",
                suite_file(p, 'presets = ["dit-s-2"]\nresolutions = [33]\nphases = ["params"]'),
            ],
            "no cells (every combination excluded or skipped; skipped dit-s-2 at 33 px: resolution",
        ),
        (
            lambda p: ["run", "quick", "--device", "cuda:1", "--devices", "0,1"],
            "--device cuda:1 and --devices 0,1 both pick GPUs",
        ),
        (
            lambda p: ["run", "quick", "--prestart", "--launcher", "slurm"],
            "--prestart works in this process's sweep, not with --launcher",
        ),
        (
            lambda p: ["run", "quick", "--device", "cuda:1", "--launcher", "slurm"],
            "--device cuda:1 picks a GPU of this node, but --launcher slurm runs the cells elsewhere",
        ),
        (
            lambda p: ["fid", "model", "--preset", "rin-tiny", "--num-samples", "0", "--out", "s"],
            "--num-samples must be at least 1, got 0",
        ),
        (
            lambda p: ["fid", "images", "builtin", "builtin", "--num-images", "0"],
            "--num-images must be at least 1, got 0",
        ),
        (
            lambda p: ["profile", "rin-huge"],
            "unknown cell or preset 'rin-huge'; known: adm-in128, ",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path, capsys, monkeypatch, make_args, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("an output folder that is a file")
    args = make_args(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("rinbench: error: ") and err.count("\n") == 1, err
    assert len(err) <= len("rinbench: error: \n") + MAX_ERROR_CHARS, err
    assert message in err
    assert sorted(tmp_path.rglob("*")) == before


def test_launch_without_submitit_names_the_default_launcher(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # `import submitit` raises ImportError
    command = ["--", "train", "rin-tiny", "--out", str(tmp_path / "run")]
    assert cli.main(["launch", *command]) == 2
    err = capsys.readouterr().err
    assert err == (
        "rinbench: error: rinbench launch --launcher slurm (the default) needs submitit: "
        "pip install 'rinbench[slurm]'\n"
    )
    assert cli.main(["launch", "--launcher", "submitit-local", *command]) == 2
    assert "rinbench launch --launcher submitit-local needs submitit" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_device_cuda_n_runs_the_cells_on_cuda_pinned_to_gpu_n(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--device", "cuda:1", "--only", "rin-tiny.*"]
    assert cli.main([*argv, "--dry-run"]) == 0
    ids = capsys.readouterr().out.split()
    assert ids and all(cell_id.endswith(".cuda") for cell_id in ids)
    # Without that GPU, the error names the device as given, not the --devices it stands for.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rinbench: error: device 'cuda:1' requested but torch sees no CUDA")
    assert not any(tmp_path.iterdir())


def test_report_refuses_a_newer_schema(tmp_path, capsys):
    path = tmp_path / "future.jsonl"
    path.write_text(json.dumps({"schema": SCHEMA_VERSION + 1}) + "\n")
    assert cli.main(["report", str(path)]) == 2
    message = f"schema version {SCHEMA_VERSION + 1}, but this rinbench reads versions up to 2"
    assert message in capsys.readouterr().err


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without CUDA"
)
def test_cuda_cells_without_cuda_are_refused_up_front(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "paper", "--only", "dit-s-8.*.forward.*"]) == 2
    assert "no CUDA device is visible here; pass --device cpu" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_argument_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "--timeout", "-3"])
    assert exited.value.code == 2
    assert "the timeout must be a positive, finite number" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # NaN compares false both ways: refused all the same
        cli.main(["run", "--timeout", "nan"])
    assert exited.value.code == 2
    assert "the timeout must be a positive, finite number" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "--device", "tpu"])
    assert exited.value.code == 2


def test_help_texts_guide_a_newcomer(capsys):
    assert cli.main([]) == 2
    assert "rinbench run" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for phrase in (
        "--resume",
        "--retry-failed",
        "--only GLOB",
        "--timeout SECONDS",
        "examples:",
        "Exit status",
    ):
        assert phrase in text


def test_dry_run_lists_the_cells(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "--dry-run", "--only", "*-tiny.*"]) == 0
    ids = capsys.readouterr().out.split()
    assert len(ids) == 6 and all(i.endswith(".cpu") and "-tiny." in i for i in ids)
    assert not (tmp_path / "results").exists()


def test_list_shows_suites_and_presets_with_params(capsys, monkeypatch):
    build = registry.build

    def build_but_one(slug, *args, **kwargs):  # a plugin's model importing what is not there
        if slug == "dit-tiny":
            raise ModuleNotFoundError("No module named 'timm'")
        return build(slug, *args, **kwargs)

    monkeypatch.setattr(registry, "build", build_but_one)
    assert cli.main(["list"]) == 2
    out, err = capsys.readouterr()
    for name in ("quick", "paper", "scaling", "ci"):
        assert f"  {name} " in out
    assert all(slug in out for slug in registry.slugs())
    assert "295,904,454" in out  # adm-in64, the official count
    assert re.search(r"dit-tiny +dit +32 +cannot build", out)
    assert err == (
        "rinbench: error: preset dit-tiny cannot be built: ModuleNotFoundError: No module named "
        "'timm'\n"
    )


def test_env_prints_the_recorded_environment(capsys):
    assert cli.main(["env", "--device", "cpu"]) == 0
    env = json.loads(capsys.readouterr().out)
    assert env["device"] == "cpu" and env["torch"] == torch.__version__


def test_fid_and_train_are_subcommands_with_their_own_help():
    for command in ("fid", "train"):
        done = subprocess.run(
            [sys.executable, "-m", "bench", command, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"usage: rinbench {command}")


def test_a_closed_pipe_is_not_a_pass(monkeypatch, tmp_path):
    # `rinbench compare ... | head` must not turn a regression into exit 0: a reader that went away
    # gives 141 (128 + SIGPIPE), as a shell reports for a process killed by it.
    class ClosedPipe(io.StringIO):
        def __init__(self, fd):
            super().__init__()
            self.fd = fd

        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            return self.fd

    with open(tmp_path / "stdout", "w") as target:
        monkeypatch.setattr(sys, "stdout", ClosedPipe(target.fileno()))
        assert cli.main(["list"]) == cli.EXIT_BROKEN_PIPE == 141


def test_the_resume_hint_goes_on_with_the_run_as_it_was_asked(capsys, tmp_path):
    # Interrupted while retrying failed cells with workers started ahead: the line to finish it
    # retries the rest and starts workers ahead too (without them it measured nothing more).
    from argparse import Namespace
    from types import SimpleNamespace

    from bench.commands import run as run_command

    args = Namespace(
        suite="quick", device=None, devices=None, timeout=None, only=["a*"], retry_failed=True,
        prestart=True,
    )  # fmt: skip
    plan, summary = SimpleNamespace(path=tmp_path / "r.jsonl"), SimpleNamespace(measured=2)
    run_command._say_how_to_resume(args, plan, summary)
    hint = capsys.readouterr().err.splitlines()[-1]
    assert hint.endswith(f"--resume {tmp_path / 'r.jsonl'} --only 'a*' --retry-failed --prestart")
