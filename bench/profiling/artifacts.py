"""Files a profile leaves for the tools people know: the trace and, on CUDA, the memory snapshot.

- The trace: torch.profiler's Chrome trace format, gzipped (`<name>.trace.json.gz`); Perfetto UI
  (ui.perfetto.dev) and chrome://tracing open it as it is. Its size is bounded by profiling a small
  fixed number of steps (bench.profiling.measure.PROFILE_STEPS) without shapes or stacks: a forward of
  the 256-px paper presets is a few hundred kB.
- The memory snapshot (CUDA): `torch.cuda.memory._record_memory_history` over one step after the
  profiled ones, dumped with `_dump_snapshot` as `<name>.memory.pickle`, which PyTorch's memory viewer
  (pytorch.org/memory_viz) opens; at most MEMORY_HISTORY_ENTRIES allocation events are kept. The
  API is private to torch: if it fails, the reason is recorded instead of a file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MEMORY_HISTORY_ENTRIES = 100_000


def file_stem(cell_id: str) -> str:
    """A cell id as a file name: "rin-tiny.r32.b1.fp32.profile-forward.eager.cpu"."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", cell_id)


def write_trace(prof, folder: Path, stem: str) -> tuple[Path, int]:
    """Export `prof`'s Chrome trace to folder/stem.trace.json.gz (written under a temporary name,
    then renamed); returns the path and its size in bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.trace.json.gz"
    partial = folder / f"{stem}.partial.trace.json.gz"  # ends in .gz: torch gzips it
    prof.export_chrome_trace(str(partial))
    os.replace(partial, path)
    return path, path.stat().st_size


class MemoryHistory:
    """Records CUDA allocations while entered and dumps them to `path` on exit; on a CPU, without a
    path, or when torch's private API fails, `values` holds the reason instead. After exit, `values` has
    memory_snapshot (the path) or memory_snapshot_reason, and on CUDA peak_alloc_bytes over the
    block."""

    def __init__(self, device: str, path: Path | None):
        self.device, self.path = device, path
        self.values: dict = {}
        self._recording = False

    def __enter__(self):
        if self.device != "cuda":
            self.values["memory_snapshot_reason"] = (
                "memory snapshots record the CUDA caching allocator; a CPU profile has none"
            )
            return self
        import torch

        torch.cuda.reset_peak_memory_stats()
        if self.path is None:
            self.values["memory_snapshot_reason"] = "no folder for files was given"
            return self
        try:
            torch.cuda.memory._record_memory_history(max_entries=MEMORY_HISTORY_ENTRIES)
            self._recording = True
        except Exception as err:  # a private API: say why rather than fail the profile
            self.values["memory_snapshot_reason"] = f"cannot record memory history: {err!r}"
        return self

    def __exit__(self, *exc_info):
        if self.device != "cuda":
            return
        import torch

        self.values["peak_alloc_bytes"] = torch.cuda.max_memory_allocated()
        if not self._recording:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            torch.cuda.memory._dump_snapshot(str(self.path))
            self.values["memory_snapshot"] = str(self.path)
        except Exception as err:
            self.values["memory_snapshot_reason"] = f"cannot write the memory snapshot: {err!r}"
        finally:
            torch.cuda.memory._record_memory_history(enabled=None)
