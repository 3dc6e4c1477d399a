"""Which records to show: the choices that claims and reports make alike, on `bench.record.Record`s.

A cell measured more than once keeps its newest record per machine (the same suite on two GPUs is
a hardware comparison, a retried cell shows its last attempt); a count keeps its ok record; an FID
is the one of the checkpoint trained longest. Standard library only: reports/ runs without torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bench import metrics, results
from bench.record import Record, is_number

TIMED_PHASES = ("forward", "train_step", "sample")
COUNT_PHASES = ("params", "flops")

# The FID protocol the papers' numbers use (ADM's TensorFlow Inception), then the other FIDs of
# the metric table: the first a record has is its FID.
PREFERRED_FID_KEY = "fid_legacy_tf"
FID_KEYS = (
    PREFERRED_FID_KEY,
    *(
        metric.key
        for metric in metrics.METRICS
        if metric.kind == metrics.QUALITY
        and metric.key.startswith("fid_")
        and metric.key != PREFERRED_FID_KEY
    ),
)
# The peak memory of a timed cell: the caching allocator's peak on a GPU, the resident set on a CPU.
PEAK_MEMORY_KEYS = ("peak_alloc_bytes", "peak_rss_bytes")


def hardware(record: Record) -> str:
    """The machine a timed cell ran on: the GPU's name, or "CPU <model> (<n> cpus)"."""
    return results.device_model(record) or record.cell.device


def device_label(record: Record) -> str:
    """Short: 'cpu', or the GPU's name without the vendor ('H100 80GB HBM3')."""
    name = hardware(record)
    return "cpu" if name.startswith("CPU") else name.removeprefix("NVIDIA ").strip()


def setup_label(record: Record, *, cpu_named: bool = False) -> str:
    """'H100 80GB HBM3 bf16 b32 eager': where and how a timed cell ran. A CPU reads 'cpu', or with
    `cpu_named` its model ('AMD EPYC 7B13 (2 CPUs) fp32 b4 eager'), to tell two CPUs apart."""
    cell = record.cell
    device = device_words(record) if cpu_named and not is_gpu(record) else device_label(record)
    return f"{device} {cell.dtype} b{cell.batch} {cell.mode}"


def is_gpu(record: Record) -> bool:
    return record.cell.device.startswith("cuda")


def threads(record: Record) -> int | None:
    """torch's intra-op thread count during the timed window, where the record says it."""
    count = record.values.get("torch_threads")
    return int(count) if is_number(count) else None


def device_words(record: Record) -> str:
    """The machine in the words a reader knows: 'H100 80GB HBM3', 'AMD EPYC 7B13 (2 CPUs)', or
    'CPU' where the record names no model."""
    if is_gpu(record):
        return device_label(record)
    model, count = record.env.get("cpu_model"), record.env.get("cpu_count")
    if not model:
        return "CPU"
    return f"{model} ({count} CPUs)" if count else f"CPU {model}"


def setup_words(record: Record) -> str:
    """Where and how a timed cell ran, in words: 'AMD EPYC 7B13 (2 CPUs, 2 threads, fp32, b1,
    eager)', 'H100 80GB HBM3 (bf16, b32, eager)'."""
    cell = record.cell
    parts = [cell.dtype, f"b{cell.batch}", cell.mode]
    count = threads(record)
    if not is_gpu(record) and count is not None:
        parts.insert(0, f"{count} thread{'' if count == 1 else 's'}")
    device = device_words(record)
    if device.endswith(")"):  # '... (2 CPUs)': one parenthesis for the whole setup
        return f"{device[:-1]}, {', '.join(parts)})"
    return f"{device} ({', '.join(parts)})"


def latest(records: Iterable[Record]) -> list[Record]:
    """The newest record per (hardware, cell id), in first-seen order: a retried cell's newest
    attempt, while the same cell measured on two machines keeps both. Newest is by the time its run
    started (ISO 8601 in UTC, as every run writes it), then by order: files are read in path order,
    which is not the order of the runs (results/gpu-check/ before results/hardware/, whatever their
    dates). FID records are kept per checkpoint (its training compute), so that FID can be plotted
    against it."""
    chosen: dict[tuple, Record] = {}
    for record in records:
        key: tuple = (hardware(record), record.cell.id)
        if record.cell.phase == "fid":
            key += (_checkpoint(record.values),)
        earlier = chosen.get(key)
        if earlier is None or (record.run.started or "") >= (earlier.run.started or ""):
            chosen[key] = record
    return list(chosen.values())


def _checkpoint(values: Mapping) -> tuple:
    """What tells an FID record's checkpoint apart: its training compute where the record has it
    (rinbench fid writes train_macs, None for a checkpoint that lacks it), else its step."""
    train_macs = values.get("train_macs")
    if is_number(train_macs):
        return "train_macs", train_macs
    return "checkpoint_step", values.get("checkpoint_step")


def keep_count(kept: dict, phase: str, record: Record) -> None:
    """Counts do not depend on the machine: an ok record wins over a failed one, else the newest
    (by its run's start, as in `latest`; on a tie, the one read last)."""
    previous = kept.get(phase)
    if previous is None or _count_rank(record) >= _count_rank(previous):
        kept[phase] = record


def _count_rank(record: Record) -> tuple[bool, str]:
    return record.status == "ok", record.run.started or ""


# How far an FID record's checkpoint was trained, most telling first.
TRAINED_BY = ("images_seen", "train_macs", "checkpoint_step")


def most_trained(records: Iterable[Record]) -> Record | None:
    """Of FID records: the ok one trained longest, ranked by TRAINED_BY in turn (a record that
    lacks a measure ranks below one that has it), the newest on a tie; when none is ok, the
    newest. One key per record, so the choice does not depend on the order records are read in;
    rinbench fid writes all three."""
    best = None
    for record in records:
        if best is None or _training_rank(record) >= _training_rank(best):
            best = record
    return best


def _training_rank(record: Record) -> tuple:
    ok = record.status == "ok"
    trained = tuple(
        float(record.values[key]) if ok and is_number(record.values.get(key)) else -1.0
        for key in TRAINED_BY
    )
    return ok, *trained, record.run.started or ""


def first_number(values: Mapping, keys: Iterable[str]) -> tuple[str, float] | tuple[None, None]:
    """The first of `keys` whose value is a finite number, and the value: e.g. a record's FID
    (first_number(record.values, FID_KEYS)). NaN counts as absent."""
    for key in keys:
        if is_number(values.get(key)):
            return key, float(values[key])
    return None, None
