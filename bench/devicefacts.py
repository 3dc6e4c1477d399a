"""What a sweep knows of each device it measures on, taken once per run: its environment (the
record's `env`) and its matmul peak (the MFU denominator every timed cell shares), as a
bench.measure.facts.DeviceFacts.

    facts = DeviceFactsCache({"cuda"}, timeout_s=600).get("cuda", visible="3")
    facts.env, facts.peak

A CUDA device's facts are taken in a worker process (`python -m bench.worker --probe`):
initialising CUDA in the runner would hold GPU memory while every cell measures. A CPU's are taken
in this process, with a CPU cell's threads.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from pathlib import Path

from bench import pool
from bench.cellprocess import output_tail, run_killable
from bench.measure.facts import DeviceFacts
from bench.scratch import scratch_prefix
from bench.worker import probe


class DeviceFactsCache:
    """Per device, once per run: its DeviceFacts (environment(device), matmul_peak(device)), the
    peak only for devices with timed cells (timed like a cell: until steady or its budget, with a
    CPU cell's threads; bench.worker.probe). In a sweep over several GPUs each GPU has its own
    facts, `visible` naming it (its CUDA_VISIBLE_DEVICES value), taken by a worker pinned to it the
    same way. Thread-safe: the sweep's pool threads ask for their GPUs' facts at once."""

    def __init__(
        self, timed_devices: set[str], timeout_s: float, processes: pool.Processes | None = None
    ):
        self.timed_devices = timed_devices
        self.timeout_s = timeout_s
        self.processes = processes
        self.cache: dict[tuple[str, str | None], DeviceFacts] = {}
        self.lock = threading.Lock()

    def get(self, device: str, visible: str | None = None) -> DeviceFacts:
        key = (device, None if device == "cpu" else visible)
        with self.lock:
            if key in self.cache:
                return self.cache[key]
        # Outside the lock: the pool's threads probe their GPUs at the same time (each GPU is
        # held by one thread at a time, so no key is taken twice).
        facts = self._take(device, device in self.timed_devices, key[1])
        with self.lock:
            return self.cache.setdefault(key, facts)

    def _take(self, device: str, with_peak: bool, visible: str | None) -> DeviceFacts:
        if device == "cpu":
            return probe("cpu", with_peak)
        with tempfile.TemporaryDirectory(prefix=f"{scratch_prefix()}probe-") as scratch:
            result, output = Path(scratch) / "probe.json", Path(scratch) / "output.log"
            command = [sys.executable, "-m", "bench.worker", "--probe", device]
            command += ["--result", str(result), "--parent-pid", str(os.getpid())]
            command += ["--peak"] if with_peak else []
            returncode = run_killable(command, output, self.timeout_s, visible, self.processes)
            if returncode == 0 and result.is_file():
                return DeviceFacts.from_json(json.loads(result.read_text(encoding="utf-8")))
            # Cells still run: each then measures its own peak; the env says what went wrong.
            failure = "timed out" if returncode is None else f"exited with code {returncode}"
            reason = f"probe {failure}: {output_tail(output)}"
            return DeviceFacts({"device": device, "error": reason})


def device_facts(
    device: str, timeout_s: float, visible: str | None = None, with_peak: bool = True
) -> DeviceFacts:
    """The facts (environment and, `with_peak`, matmul peak) of one device, taken as a sweep takes
    them (a CUDA device's in a worker process, pinned to `visible` if given): for cells measured
    outside a sweep."""
    return DeviceFactsCache({device} if with_peak else set(), timeout_s).get(device, visible)
