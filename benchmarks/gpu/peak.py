"""Why does the harness's matmul peak differ from other measurements of the same GPU? Five timings
of the same dense matmul, in one process, each with the SM clock, power and temperature NVML read
while it ran, so that the next lease answers it.

    python benchmarks/gpu/peak.py --device cuda --out peak.json

The first GPU check on an H200 measured 667 TFLOP/s with `bench.measure.timing.matmul_peak` (8192^3
bf16, each call timed apart between CUDA events, median) where earlier measurements on such machines
gave 769-798 (the mean of ten products between two events, after three warm-ups). The variants
separate the suspects (warm-up, clocks, the `out=` form, the method of timing):

    harness              matmul_peak() as a sweep takes it, first thing in a fresh process
    ten_in_a_row         ten products between one pair of events after three warm-ups (the earlier
                         method): a burst of about 14 ms, short enough to run at the boost clock
    after_warm_up        the harness's per-call timing again, after 2 s of untimed products (clocks
                         and power settled)
    plain_operator       as after_warm_up, with `a @ b` instead of `torch.mm(a, b, out=out)`
    ten_after_warm_up    ten_in_a_row again, straight after: the earlier method with the clocks
                         settled, so that the method and the clocks are told apart

`clocks` holds, per variant, what a thread polling NVML every few milliseconds read while it ran:
the SM clock (median and lowest, MHz), the highest power draw (W) and temperature (C), and the share
of readings with each clock-event reason NVML gave (SwPowerCap: the power limit held the clock
down; HwThermalSlowdown, ...). A clock well under `sm_clock_max_mhz` with SwPowerCap set and the
power at `power_limit_w` says the power limit, not the method, made a variant slow. Without NVML,
or on a CPU, `clocks_reason` says why there are none.

Writes one JSON object to --out and prints a line per variant. A CPU (--device cpu) times a 1024^3
fp32 product the same five ways: the dry run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.measure.hardware import nvml_state  # noqa: E402
from bench.measure.nvml import handle_for, nvml_session, query  # noqa: E402

POLL_S = 0.005  # NVML refreshes its clock and power readings about this often, or less


def variants(device_name: str, warm_up_s: float) -> dict:
    import torch

    from bench.measure.timing import matmul_peak, time_calls

    device = torch.device(device_name)
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    flop = 2 * n**3
    found: dict[str, float] = {}
    with clock_watch(device) as clocks:
        with clocks.watching("harness"):
            found["harness"] = matmul_peak(device).tflops

        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        out = torch.empty(n, n, device=device, dtype=dtype)
        with clocks.watching("ten_in_a_row"):
            found["ten_in_a_row"] = flop * 10 / _ten_in_a_row(lambda: a @ b, device) / 1e12

        stop = time.perf_counter() + warm_up_s
        while time.perf_counter() < stop:
            torch.mm(a, b, out=out)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the queued products run before the next window opens
        timing = {"device": device, "warmup": 3, "min_repeats": 20, "min_seconds": 0.5}
        with clocks.watching("after_warm_up"):
            mm_ms = time_calls(lambda: torch.mm(a, b, out=out), **timing).stats.median_ms
        found["after_warm_up"] = flop / (mm_ms / 1e3) / 1e12
        with clocks.watching("plain_operator"):
            op_ms = time_calls(lambda: a @ b, **timing).stats.median_ms
        found["plain_operator"] = flop / (op_ms / 1e3) / 1e12
        with clocks.watching("ten_after_warm_up"):
            found["ten_after_warm_up"] = flop * 10 / _ten_in_a_row(lambda: a @ b, device) / 1e12
    return {
        "device": device_name,
        "n": n,
        "dtype": str(dtype),
        "tflops": found,
        "sm_clock_max_mhz": clocks.sm_clock_max_mhz,
        "power_limit_w": clocks.power_limit_w,
        "clocks": clocks.readings,
        "clocks_reason": clocks.reason,
    }


def _ten_in_a_row(call, device) -> float:
    """Seconds for ten calls between two marks, after three untimed ones."""
    import torch

    for _ in range(3):
        call()
    if device.type != "cuda":
        start = time.perf_counter()
        for _ in range(10):
            call()
        return time.perf_counter() - start
    torch.cuda.synchronize(device)
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    for _ in range(10):
        call()
    end.record()
    end.synchronize()
    return begin.elapsed_time(end) / 1e3


class ClockWatch:
    """Reads the GPU's SM clock, power, temperature and clock-event reasons on a thread of its own
    while a variant runs (`watching(name)`), into `readings[name]`. Without a GPU to read, `reason`
    says why and `watching` measures nothing."""

    def __init__(self, pynvml=None, handle=None, reason: str | None = None, poll_s: float = POLL_S):
        self.pynvml, self.handle, self.reason, self.poll_s = pynvml, handle, reason, poll_s
        self.readings: dict[str, dict] = {}
        self.sm_clock_max_mhz = self.power_limit_w = None
        if pynvml is not None:
            limit_mw, _ = query(pynvml.nvmlDeviceGetEnforcedPowerLimit, handle)
            self.power_limit_w = None if limit_mw is None else limit_mw / 1e3
            self.sm_clock_max_mhz, _ = query(
                pynvml.nvmlDeviceGetMaxClockInfo, handle, pynvml.NVML_CLOCK_SM
            )
            self.reason_names = clock_event_reason_names(pynvml)

    def watching(self, name: str) -> AbstractContextManager:
        if self.pynvml is None:
            return nullcontext()
        return self._watch(name)

    @contextmanager
    def _watch(self, name: str):
        samples: list[dict] = []
        done = threading.Event()

        def poll():
            # One reading even for a burst shorter than poll_s; each field None where NVML refused.
            samples.append(nvml_state(self.pynvml, self.handle))
            while not done.wait(self.poll_s):
                samples.append(nvml_state(self.pynvml, self.handle))

        thread = threading.Thread(target=poll, name=f"clocks-{name}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            self.readings[name] = summarise(samples, self.reason_names)


@contextmanager
def clock_watch(device):
    """A ClockWatch for `device`: one that reads NVML on a CUDA device where NVML answers, else one
    whose `reason` says why not."""
    if device.type != "cuda":
        yield ClockWatch(reason=f"clocks are read from NVML on a CUDA device, not {device.type}")
        return
    with nvml_session() as (pynvml, reason):
        handle = None
        if pynvml is not None:
            handle, reason = handle_for(pynvml, device.index or 0)
        yield (
            ClockWatch(pynvml, handle, reason) if handle is not None else ClockWatch(reason=reason)
        )


def clock_event_reason_names(pynvml) -> dict[int, str]:
    """NVML's clock-event reason bits by name (SwPowerCap, HwThermalSlowdown, ...), from the
    constants of the installed nvidia-ml-py (older ones call them throttle reasons)."""
    names: dict[int, str] = {}
    for prefix in ("nvmlClocksEventReason", "nvmlClocksThrottleReason"):
        for attr in sorted(dir(pynvml)):
            value = getattr(pynvml, attr)
            is_one_bit = isinstance(value, int) and value > 0 and value & (value - 1) == 0
            if attr.startswith(prefix) and is_one_bit:
                names.setdefault(value, attr[len(prefix) :])
    return names


def summarise(samples: list[dict], reason_names: dict[int, str]) -> dict:
    """A variant's readings (bench.measure.hardware.nvml_state's) in a few numbers: SM clock
    median and lowest, highest power and temperature, and the share of readings with each
    clock-event reason (those seen at all; None where NVML gave no reasons)."""

    def present(key):
        return [sample[key] for sample in samples if sample[key] is not None]

    clocks, powers = present("clock_sm_mhz"), present("power_draw_w")
    temperatures, masks = present("temperature_c"), present("clock_event_reasons")
    shares = {
        name: sum(bool(mask & bit) for mask in masks) / len(masks)
        for bit, name in sorted(reason_names.items())
        if any(mask & bit for mask in masks)
    }
    if not masks:
        shares = None  # not read, which is not the same as read and none set
    return {
        "samples": len(samples),
        "sm_clock_mhz_median": statistics.median(clocks) if clocks else None,
        "sm_clock_mhz_min": min(clocks, default=None),
        "power_w_max": max(powers, default=None),
        "temperature_c_max": max(temperatures, default=None),
        "clock_event_reason_shares": shares,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda", help="default: cuda")
    parser.add_argument("--warm-up", type=float, default=2.0, help="seconds (default: 2)")
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    args = parser.parse_args(argv)
    if args.warm_up < 0:
        print("--warm-up must be 0 or more seconds", file=sys.stderr)
        return 2
    result = variants(args.device, args.warm_up)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for name, tflops in result["tflops"].items():
        clock = (result["clocks"].get(name) or {}).get("sm_clock_mhz_median")
        at_clock = f", SM clock {clock:,.0f} MHz" if clock is not None else ""
        print(
            f"matmul peak, {name}: {tflops:,.4g} TFLOP/s "
            f"({result['n']}^3 {result['dtype']}{at_clock})"
        )
    if result["clocks_reason"]:
        print(f"no clocks: {result['clocks_reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
