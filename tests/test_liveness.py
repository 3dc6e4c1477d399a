"""bench.liveness: the one rule for "is this process alive", which the runner (stale scratch
folders) and the Slurm sweep (a re-attached local job) share; a zombie is not alive."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.liveness import pid_alive, process_state

HAS_PROC = Path("/proc/self/stat").is_file()


def test_a_running_process_is_alive():
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert pid_alive(child.pid) and pid_alive(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_a_reaped_process_is_not():
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: its pid is free
    assert not pid_alive(child.pid)


@pytest.mark.skipif(not HAS_PROC, reason="without /proc a zombie reads as alive")
def test_a_zombie_is_not_alive():
    child = subprocess.Popen(["true"])
    try:
        # Wait for it to exit without reaping it (WNOWAIT): it stays a zombie, and os.kill still
        # finds its pid.
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        assert process_state(child.pid) == "Z"
        os.kill(child.pid, 0)  # the kernel still answers for it
        assert not pid_alive(child.pid)
    finally:
        child.wait()


@pytest.mark.skipif(not HAS_PROC, reason="reads /proc")
def test_a_command_name_with_parentheses_and_spaces_is_read_past(tmp_path):
    # /proc/PID/stat writes the command name in parentheses as it is: "PID (x) Z y () S ...".
    odd = tmp_path / "x) Z y ("
    shutil.copy(shutil.which("sleep"), odd)
    child = subprocess.Popen([str(odd), "30"])
    try:
        assert process_state(child.pid) in ("R", "S", "D") and pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()


def test_another_users_process_is_alive():
    assert pid_alive(1)  # init: root's, so os.kill answers PermissionError unless we are root


@pytest.mark.parametrize("pid", [0, -1])
def test_a_process_group_is_not_a_pid(pid):
    with pytest.raises(ValueError, match="not a process id"):
        pid_alive(pid)
