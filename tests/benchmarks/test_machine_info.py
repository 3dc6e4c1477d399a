"""The benchmark suite's pytest-benchmark hooks, through a real pytest run: the hardware lands in a
saved run's machine_info, and a comparison against a run from other hardware stops."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ONE_BENCHMARK = f"{HERE / 'test_step_speed.py'}::test_step_speed[rin-tiny-forward-cpu]"


def pytest_run(cwd, *args):
    # The storage stays inside the working directory: pytest-benchmark 5.2's machine_info warning
    # fails on a storage path outside it (docs/ci.md).
    command = [sys.executable, "-m", "pytest", ONE_BENCHMARK, "-q", "-p", "no:cacheprovider"]
    command += ["--benchmark-enable", "--benchmark-max-time=0.05", "--benchmark-storage=runs"]
    # A pytest of its own, not an xdist worker: pytest-benchmark turns itself off in one.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


@pytest.mark.slow
def test_saved_run_names_the_hardware_and_foreign_runs_are_refused(tmp_path):
    done = pytest_run(tmp_path, "--benchmark-autosave")
    assert done.returncode == 0, done.stdout + done.stderr
    (saved,) = (tmp_path / "runs").glob("*/*.json")
    facts = json.loads(saved.read_text())["machine_info"]["rinbench"]
    assert {"cpu", "gpu", "torch", "torch_cuda", "fingerprint"} <= facts.keys()
    assert facts["fingerprint"].startswith(facts["cpu"])

    run = json.loads(saved.read_text())
    run["machine_info"]["rinbench"]["fingerprint"] = "Some CPU (64 cpus); 1x Some GPU"
    saved.write_text(json.dumps(run))
    done = pytest_run(tmp_path, "--benchmark-compare")
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage-error status
    assert "timings compare only on the same hardware" in done.stdout + done.stderr
