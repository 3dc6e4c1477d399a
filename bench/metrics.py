"""The one metric table: every quantity rinbench records, declared once.

A record's `values` maps metric keys to numbers (units and conventions in the key names:
`macs_fwd`, `latency_ms_median`, `peak_alloc_bytes`) and to their raw samples and breakdowns
(`latency_ms_samples`, `macs_fwd_by_group`). Measuring code writes these keys; the loaders, the
tables, the figures and `rinbench compare` read this table to know a value's unit, which direction
is better, how to label and format it, and how the regression gate judges it. Every key a record
stores in its values is a row here (tests/test_metrics.py measures a cell of every phase and reads
every committed record to hold that); a row with `column=False` is kept in the record only, never
a column of the report. Adding a metric is one row here plus the code that measures it.

Standard library only: `reports/` and `rinbench compare` run without torch.
"""

from __future__ import annotations

from dataclasses import dataclass

# What a metric measures; `compare` thresholds time, memory and energy per kind.
# SETUP: the conditions a timing ran under (threads, load), to judge its other numbers by.
COUNT, TIME, THROUGHPUT, MEMORY, ENERGY, EFFICIENCY, QUALITY, BUDGET, SETUP = (
    "count",
    "time",
    "throughput",
    "memory",
    "energy",
    "efficiency",
    "quality",
    "budget",
    "setup",
)
KINDS = (COUNT, TIME, THROUGHPUT, MEMORY, ENERGY, EFFICIENCY, QUALITY, BUDGET, SETUP)
# The kinds `rinbench compare` keeps a relative threshold for (bench.compare.DEFAULT_THRESHOLDS).
THRESHOLD_KINDS = (TIME, MEMORY, ENERGY)

# How `rinbench compare` judges a metric: EXACT (any change fails: the model or the counting
# changed), THRESHOLD (a relative change beyond the threshold of the metric's kind, in the costly
# direction, fails), or None (not gated: it follows from a gated metric, or is not comparable).
EXACT, THRESHOLD = "exact", "threshold"

LOWER, HIGHER = "lower", "higher"


@dataclass(frozen=True)
class Metric:
    key: str  # the key in a record's values, unit and convention in the name
    unit: str  # of the stored value: "MAC", "FLOP", "ms", "B", "J", "img/s", "1", ...
    kind: str  # one of KINDS
    better: str | None  # LOWER, HIGHER, or None where neither is better (a budget)
    label: str  # a column or axis label, in the display unit
    scale: float = 1.0  # display value = stored value x scale (bytes -> GiB, MACs -> GMACs)
    fmt: str = ",.3g"  # format spec of the display value
    compare: str | None = None  # EXACT, THRESHOLD or None
    description: str = ""  # one line for legends and docs
    # Whether the report's frame, tables and CSV give it a column where a record has it as a
    # number. False: kept in the record for a reader who wants it (raw samples, bookkeeping,
    # provenance), out of the report, which then shows only what it always showed.
    column: bool = True

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.key!r}: unknown kind {self.kind!r}; known: {KINDS}")
        if self.better not in (LOWER, HIGHER, None):
            raise ValueError(f"metric {self.key!r}: better must be {LOWER!r}, {HIGHER!r} or None")
        if self.compare not in (EXACT, THRESHOLD, None):
            raise ValueError(
                f"metric {self.key!r}: compare must be {EXACT!r}, {THRESHOLD!r} or None"
            )
        if self.compare == THRESHOLD and self.better is None:
            raise ValueError(f"metric {self.key!r}: a thresholded metric needs a better direction")
        if self.compare == THRESHOLD and self.kind not in THRESHOLD_KINDS:
            raise ValueError(
                f"metric {self.key!r}: compare thresholds only kinds {', '.join(THRESHOLD_KINDS)}"
            )
        if self.compare is not None and not self.column:
            raise ValueError(f"metric {self.key!r}: a gated metric is a column of the report")


GIB = 2**30

# Kept in the record, never a column of the report (column=False): what a reader may want to
# recompute or audit from (the samples, the per-op and per-group splits), how the measurement
# went (iterations, windows, compile counters), and the provenance of a fid record.
# fmt: off
STORED_ONLY: tuple[Metric, ...] = tuple(
    Metric(key, unit, kind, better, label, column=False, description=description)
    for key, unit, kind, better, label, description in (
        # --- counts (params and flops cells, and a timed cell's numerator) -------------------------
        ("buffers", "1", COUNT, None, "buffers",
         "elements of the model's buffers (not parameters)"),
        ("batch", "img", SETUP, None, "batch",
         "the batch a flops cell counted at (its per-image counts divide by it); a fid record's "
         "sampling batch"),
        ("macs_fwd_batch", "MAC", COUNT, LOWER, "GMACs fwd batch",
         "macs_fwd for the whole batch"),
        ("flops_fwd_batch", "FLOP", COUNT, LOWER, "GFLOPs fwd batch",
         "flops_fwd for the whole batch"),
        ("macs_train_step_batch", "MAC", COUNT, LOWER, "GMACs train batch",
         "macs_train_step for the whole batch"),
        ("flops_train_step_batch", "FLOP", COUNT, LOWER, "GFLOPs train batch",
         "flops_train_step for the whole batch"),
        ("macs_fwd_by_group", "MAC", COUNT, None, "GMACs per group",
         "per FLOP group of the family (RIN: read, compute, write, other): MACs of one forward "
         "pass per image; adds up to macs_fwd"),
        ("macs_fwd_by_op", "MAC", COUNT, None, "GMACs per op",
         "per aten operator: MACs of one forward pass per image"),
        ("macs_train_step_by_op", "MAC", COUNT, None, "GMACs train per op",
         "per aten operator: MACs of one training step per image"),
        ("flops_per_call", "FLOP", COUNT, None, "GFLOPs per call",
         "model FLOPs of one timed call for the whole batch: the achieved TFLOP/s numerator"),
        # --- timing: the samples and how the timed loop went --------------------------------------
        ("latency_ms_samples", "ms", TIME, None, "ms samples",
         "every timed call's time in order, stalls included"),
        ("latency_ms_mean", "ms", TIME, LOWER, "ms mean",
         "mean of the per-call times without stalls"),
        ("latency_ms_min", "ms", TIME, LOWER, "ms min", "the fastest timed call"),
        ("latency_ms_max", "ms", TIME, LOWER, "ms max", "the slowest timed call: the worst stall"),
        ("latency_ms_round_medians", "ms", TIME, None, "ms per round",
         "paired cells: the median call of each round's window, in round order; the factor's "
         "interval comes from them (bench.intervals)"),
        ("latency_ms_samples_by_round", "ms", TIME, None, "ms samples per round",
         "paired cells: latency_ms_samples of each round's window"),
        ("latency_ms_warmup", "ms", TIME, None, "ms warm-up calls",
         "each warm-up call's time, by the timed calls' clock, in order (paired cells: over all "
         "rounds); in no statistic"),
        ("latency_ms_warmup_by_round", "ms", TIME, None, "ms warm-up calls per round",
         "paired cells: latency_ms_warmup of each round's window"),
        ("warmup_iters", "1", SETUP, None, "warm-up calls",
         "calls before the timed ones, in no statistic (latency_ms_warmup); per window as many "
         "as the suite's warmup, or fewer where its warmup_steady_within found the step steady "
         "sooner; paired cells: summed over the rounds (latency_ms_warmup_by_round)"),
        ("timed_iters", "1", SETUP, None, "timed calls",
         "timed calls (paired cells: over all rounds)"),
        ("timed_window_s", "s", SETUP, None, "timed s", "wall time of the timed loop"),
        ("rounds_short_of_cores", "1", SETUP, None, "rounds short of cores",
         "paired cells: rounds whose window ran short of cores (other jobs held the CPU)"),
        ("sample_steps", "1", SETUP, None, "sample steps",
         "network evaluations of one sampler call (the suite's sample_steps)"),
        ("matmul_peak_n", "1", SETUP, None, "peak n", "the matmul peak's size: an n^3 matmul"),
        ("compile_graph_breaks", "1", SETUP, None, "graph breaks",
         "compile mode: how often dynamo split the model into several graphs"),
        ("compile_cudagraph_skips", "1", SETUP, None, "CUDA graph skips",
         "compile modes with CUDA graphs: graphs inductor left without them"),
        ("max_batch_trials", "img", MEMORY, None, "max batch trials",
         "the batches the max-batch search tried, each with whether it fit"),
        ("max_batch_limit", "img", SETUP, None, "max batch limit",
         "where the max-batch search stops (the suite's max_batch_limit)"),
        ("max_batch_capped", "1", SETUP, None, "max batch capped",
         "true when max_batch is the limit, not the largest batch that fits"),
        # --- energy over the timed window (GPU; null on a CPU, why in details) -------------------
        ("energy_j", "J", ENERGY, LOWER, "J", "NVML's energy counter over the timed window"),
        ("energy_window_s", "s", SETUP, None, "energy s", "the energy window's wall time"),
        ("avg_power_w", "W", ENERGY, None, "W", "energy_j / energy_window_s"),
        # --- profiles ------------------------------------------------------------------------------
        ("top_ops", "ms", TIME, None, "top ops",
         "the operators taking the most time per profiled step: self time, calls, share, FLOPs"),
        ("top_kernels", "ms", TIME, None, "top kernels",
         "CUDA: the kernels taking the most time per profiled step"),
        ("idle_gaps", "ms", TIME, None, "idle gaps",
         "CUDA: the longest gaps between kernels within the profiled steps, with their neighbours"),
        # --- fid records: the other numbers of the protocol, and their provenance ----------------
        ("kid_std_legacy_tf", "1", QUALITY, None, "KID std",
         "KID's standard deviation over subsets (TensorFlow resize)"),
        ("kid_std_pil_bicubic", "1", QUALITY, None, "KID std (PIL bicubic)",
         "KID's standard deviation over subsets (PIL bicubic resize)"),
        ("kid_subset_size", "img", SETUP, None, "KID subset", "images per KID subset"),
        ("isc_mean_legacy_tf", "1", QUALITY, HIGHER, "IS",
         "Inception Score, mean over splits (TensorFlow resize; needs the logits layer)"),
        ("isc_std_legacy_tf", "1", QUALITY, None, "IS std",
         "Inception Score's standard deviation over splits (TensorFlow resize)"),
        ("isc_mean_pil_bicubic", "1", QUALITY, HIGHER, "IS (PIL bicubic)",
         "Inception Score, mean over splits (PIL bicubic resize)"),
        ("isc_std_pil_bicubic", "1", QUALITY, None, "IS std (PIL bicubic)",
         "Inception Score's standard deviation over splits (PIL bicubic resize)"),
        ("n_generated_now", "img", BUDGET, None, "generated now",
         "samples this run generated (the rest were reused from the folder)"),
        ("n_reused", "img", BUDGET, None, "reused", "samples reused from an earlier run"),
        ("n_reference", "img", BUDGET, None, "reference images", "images of the reference set"),
        ("seconds_sampling", "s", TIME, LOWER, "sampling s", "wall time of the sampling"),
        ("seconds_features", "s", TIME, LOWER, "features s",
         "wall time of the feature extraction and the metrics"),
        ("resolution", "px", SETUP, None, "resolution", "the sampled images' resolution"),
        ("num_classes", "1", SETUP, None, "classes", "the model's classes (0: unconditional)"),
        ("seed", "1", SETUP, None, "seed", "the sampling seed"),
        ("steps", "1", SETUP, None, "sampler steps", "network evaluations per sample"),
        ("world_size", "1", SETUP, None, "processes", "processes that sampled (torchrun)"),
        ("checkpoint_step", "1", BUDGET, None, "checkpoint step",
         "training steps of the sampled checkpoint"),
        ("images_seen", "img", BUDGET, None, "images seen",
         "training images of the sampled checkpoint (its steps x global batch)"),
        ("checkpoint_sha256", "1", SETUP, None, "checkpoint",
         "null for a preset's random weights (a checkpoint's hash is text: in the details)"),
        ("tf32_during_features", "1", SETUP, None, "TF32 in features",
         "whether TF32 was on during feature extraction (always false)"),
        ("reference_cache_hit", "1", SETUP, None, "reference cached",
         "whether the reference features came from the cache"),
        ("has_logits", "1", SETUP, None, "logits", "whether the Inception had a logits layer (IS)"),
        ("numerics_flags", "1", SETUP, None, "numerics",
         "the numerics flags in force while sampling (TF32, cudnn.benchmark)"),
        ("reference", "1", SETUP, None, "reference",
         "the reference set: its data, size, resolution, seed and resize"),
    )
)
# fmt: on

# A table: one metric to a row reads better than one argument to a line.
# fmt: off
METRICS: tuple[Metric, ...] = (
    # --- counts, on the meta device: equal on every machine ---------------------------------------
    Metric("params", "1", COUNT, LOWER, "Params", compare=EXACT,
           description="every parameter of the model"),
    Metric("params_trainable", "1", COUNT, LOWER, "Trainable params",
           description="parameters with requires_grad"),
    Metric("macs_fwd", "MAC", COUNT, LOWER, "GMACs", 1e-9, ",.3g", EXACT,
           "multiply-accumulates of one forward pass per image (per clip for video), attention "
           "included; what the DiT and ADM papers call GFLOPs"),
    Metric("flops_fwd", "FLOP", COUNT, LOWER, "GFLOPs", 1e-9, ",.3g", description="2 x macs_fwd"),
    Metric("macs_train_step", "MAC", COUNT, LOWER, "GMACs train", 1e-9, ",.3g", EXACT,
           "MACs of one training step per image: forward, backward (and RIN's self-conditioning pass)"),
    Metric("flops_train_step", "FLOP", COUNT, LOWER, "GFLOPs train", 1e-9, ",.3g",
           description="2 x macs_train_step"),
    Metric("macs_sample", "MAC", COUNT, LOWER, "GMACs sample", 1e-9, ",.3g", EXACT,
           "MACs of one sampler call per image: sample_steps network evaluations"),
    Metric("flops_sample", "FLOP", COUNT, LOWER, "GFLOPs sample", 1e-9, ",.3g",
           description="2 x macs_sample"),
    # --- time ---------------------------------------------------------------------------------------
    Metric("latency_ms_median", "ms", TIME, LOWER, "ms/call", fmt=",.4g", compare=THRESHOLD,
           description="median wall-clock time of one call (a batch) over the timed samples "
           "without stalls"),
    Metric("latency_ms_p10", "ms", TIME, LOWER, "ms p10", fmt=",.4g",
           description="10th percentile of the per-call times without stalls"),
    Metric("latency_ms_p90", "ms", TIME, LOWER, "ms p90", fmt=",.4g",
           description="90th percentile of the per-call times without stalls"),
    Metric("latency_ms_iqr", "ms", TIME, LOWER, "ms IQR", fmt=",.3g",
           description="interquartile range of the per-call times without stalls"),
    Metric("latency_cv", "1", TIME, LOWER, "CV", fmt=".1%",
           description="coefficient of variation of the per-call times without stalls (std / mean)"),
    Metric("latency_rel_iqr", "1", TIME, LOWER, "spread", fmt=".1%",
           description="relative IQR of the per-call times without stalls (IQR / median): the "
           "spread that decides when timing stops (suite setting max_rel_iqr)"),
    Metric("first_call_s", "s", TIME, LOWER, "first call s", fmt=",.3g",
           description="the first call, compilation included; never among the samples; on a "
           "GPU under --prestart, beside the next cell's worker's imports "
           "(details first_call_beside_reason)"),
    Metric("ms_per_step", "ms", TIME, LOWER, "ms/step", fmt=",.4g",
           description="sampling: latency_ms_median / sample_steps"),
    # --- throughput and efficiency (follow from the median: not gated on their own) ---------------
    Metric("images_per_s", "img/s", THROUGHPUT, HIGHER, "img/s", fmt=",.4g",
           description="images per second at the cell's batch: batch / median call time"),
    Metric("achieved_tflops", "TFLOP/s", EFFICIENCY, HIGHER, "TFLOP/s", fmt=",.3g",
           description="model FLOPs per call over the median call time"),
    # MFU in both conventions: over the peak this run measured, and over the data sheet's (what
    # torchtitan and nanoGPT publish); the measured peak is the lower, so `mfu` reads higher.
    Metric("mfu", "1", EFFICIENCY, HIGHER, "MFU (measured peak)", fmt=".1%",
           description="achieved model FLOP/s over the device's measured dense matmul peak "
           "(matmul_peak_tflops)"),
    Metric("mfu_datasheet", "1", EFFICIENCY, HIGHER, "MFU (data sheet)", fmt=".1%",
           description="achieved model FLOP/s over the data-sheet dense peak of the GPU for the "
           "cell's dtype (datasheet_peak_tflops; bench.datasheet), as published MFUs count it; "
           "none on a CPU or a GPU the table lacks (why: details mfu_datasheet_reason)"),
    Metric("matmul_peak_tflops", "TFLOP/s", EFFICIENCY, HIGHER, "peak TFLOP/s", fmt=",.4g",
           description="the device's measured dense matmul peak: an 8192^3 bf16 matmul on a GPU, "
           "1024^3 fp32 on a CPU, whatever the cell's dtype (matmul_peak_dtype)"),
    Metric("datasheet_peak_tflops", "TFLOP/s", EFFICIENCY, HIGHER, "data-sheet TFLOP/s",
           fmt=",.4g", description="the vendor data sheet's dense (not sparse) peak of the GPU "
           "for the cell's dtype (bench.datasheet; source: details datasheet_peak_source)"),
    # --- memory --------------------------------------------------------------------------------------
    Metric("peak_alloc_bytes", "B", MEMORY, LOWER, "peak GiB", 1 / GIB, ",.3g", THRESHOLD,
           "GPU: peak memory held by PyTorch's caching allocator over the timed window"),
    Metric("peak_reserved_bytes", "B", MEMORY, LOWER, "reserved GiB", 1 / GIB, ",.3g",
           description="GPU: peak memory the caching allocator reserved from the driver"),
    Metric("alloc_before_bytes", "B", MEMORY, LOWER, "GiB before", 1 / GIB, ",.3g",
           description="GPU: allocated before the timed window (weights, optimizer state)"),
    Metric("nvml_used_bytes", "B", MEMORY, LOWER, "NVML GiB", 1 / GIB, ",.3g",
           description="GPU: device memory in use as NVML sees it (all processes)"),
    Metric("peak_rss_bytes", "B", MEMORY, LOWER, "peak GiB", 1 / GIB, ",.3g", THRESHOLD,
           "CPU: the process's peak resident memory"),
    Metric("rss_before_bytes", "B", MEMORY, LOWER, "RSS GiB before", 1 / GIB, ",.3g",
           description="CPU: the process's resident memory before the timed window"),
    Metric("rss_after_build_bytes", "B", MEMORY, LOWER, "RSS GiB after build", 1 / GIB, ",.3g",
           description="CPU: the process's resident memory right after the model was built"),
    Metric("rss_added_bytes", "B", MEMORY, LOWER, "added GiB", 1 / GIB, ",.3g",
           description="CPU: peak resident memory of the timed window minus rss_after_build_bytes: "
           "what the phase adds (activations, gradients, optimizer state, inputs), without the "
           "interpreter, the libraries and the weights"),
    Metric("max_batch", "img", MEMORY, HIGHER, "max batch", fmt=",d", compare=THRESHOLD,
           description="the largest batch that fits (bisection over out-of-memory errors)"),
    # --- energy --------------------------------------------------------------------------------------
    Metric("joules_per_image", "J", ENERGY, LOWER, "J/img", fmt=",.3g", compare=THRESHOLD,
           description="GPU energy per image from NVML's energy counter over the timed window"),
    # --- setup: the conditions of the timed window (not gated: they explain the times) -----------
    Metric("torch_threads", "1", SETUP, None, "threads", fmt=",.0f",
           description="torch's intra-op threads during the timed window (torch.get_num_threads)"),
    Metric("torch_interop_threads", "1", SETUP, None, "interop threads", fmt=",.0f",
           description="torch's inter-op threads (torch.get_num_interop_threads)"),
    Metric("load_avg_1m_before", "1", SETUP, None, "load before", fmt=".2f",
           description="the system's 1-minute load average just before the timed window"),
    Metric("load_avg_1m_after", "1", SETUP, None, "load after", fmt=".2f",
           description="the system's 1-minute load average just after the timed window"),
    Metric("cpu_util_timed", "1", SETUP, None, "CPU util", fmt=".2f",
           description="the process's CPU time over the wall time of the timed window: busy "
           "threads on average; far below torch_threads on a CPU, another job held the cores"),
    # --- setup: how far the timing can be trusted (not gated) -------------------------------------
    Metric("latency_stalls", "1", SETUP, None, "stalls", fmt=",.0f",
           description="timed calls that took over 2x the median of all samples (held up by "
           "something else): kept in latency_ms_samples, left out of the statistics"),
    Metric("latency_noisy", "1", SETUP, None, "noisy", fmt=",.0f",
           description="1 when the timing ended noisy: its spread (latency_rel_iqr) above the "
           "suite's max_rel_iqr when the time budget ran out, stalls in over 10% of the samples, "
           "fewer than 3 samples without stalls, or (CPU) short of cores: under 75% of its threads "
           "busy with the load average above the usable cores; 0 when steady (why: details "
           "latency_noisy_reason)"),
    Metric("mfu_suspect", "1", SETUP, None, "MFU suspect", fmt=",.0f",
           description="1 when the MFU rests on a matmul peak that was noisy, taken under a load "
           "average above the usable cores or with under 75% of its threads busy (CPU), or the "
           "MFU is over 100% (why: details mfu_suspect_reason)"),
    Metric("matmul_peak_rel_iqr", "1", SETUP, None, "peak spread", fmt=".1%",
           description="relative IQR (IQR / median) of the matmul peak's per-call times without "
           "stalls"),
    Metric("matmul_peak_stalls", "1", SETUP, None, "peak stalls", fmt=",.0f",
           description="stalls among the matmul peak's timed calls (over 2x their median)"),
    Metric("matmul_peak_noisy", "1", SETUP, None, "peak noisy", fmt=",.0f",
           description="1 when the matmul peak's timing ended noisy (the rule of latency_noisy)"),
    Metric("matmul_peak_threads", "1", SETUP, None, "peak threads", fmt=",.0f",
           description="torch's intra-op threads while the matmul peak was timed"),
    Metric("matmul_peak_cpu_util", "1", SETUP, None, "peak CPU util", fmt=".2f",
           description="the process's CPU time over the wall time of the matmul peak's window"),
    Metric("matmul_peak_load_avg_1m", "1", SETUP, None, "peak load", fmt=".2f",
           description="the higher 1-minute load average of before and after the matmul peak's "
           "window"),
    # --- profiles (records of phase "profile:<phase>", bench.profiling; not gated) ---------------
    Metric("profile_steps", "1", SETUP, None, "profiled steps", fmt=",d",
           description="steps run under torch.profiler; every profile value is per step"),
    Metric("unprofiled_ms_median", "ms", TIME, LOWER, "unprofiled ms", fmt=",.4g",
           description="median of a few calls of the step without the profiler, around the "
           "profiled ones (a profile is no timing: the timed cell's latency_ms_median is)"),
    Metric("profiled_ms_median", "ms", TIME, LOWER, "profiled ms", fmt=",.4g",
           description="median wall-clock time of the profiled steps"),
    Metric("traced_step_ms", "ms", TIME, LOWER, "traced ms", fmt=",.4g",
           description="mean duration of the profiled steps' ranges in the trace: what the "
           "time_ms_by_group parts add up to"),
    Metric("profiler_slowdown", "1", SETUP, None, "profiler slowdown", fmt=".2f",
           description="profiled_ms_median / unprofiled_ms_median: the profiler's own cost"),
    Metric("trace_bytes", "B", SETUP, None, "trace MiB", 1 / 2**20, ",.3g",
           description="size of the gzipped Chrome trace the profile wrote"),
    Metric("time_ms_by_group", "ms", TIME, LOWER, "ms per group", fmt=",.4g",
           description="per FLOP group (and the parts outside every group): time per profiled "
           "step, CPU operator time on a CPU, kernel time on CUDA; adds up to traced_step_ms"),
    Metric("time_share_by_group", "1", TIME, None, "time share", fmt=".1%",
           description="per group: time_ms_by_group / traced_step_ms"),
    Metric("backward_ms_by_group", "ms", TIME, LOWER, "backward ms per group", fmt=",.4g",
           description="per group: the part of time_ms_by_group spent in its backward nodes"),
    Metric("mac_share_by_group", "1", COUNT, None, "MAC share", fmt=".1%",
           description="per group: its share of macs_fwd (macs_fwd_by_group normalised)"),
    Metric("achieved_tflops_by_group", "TFLOP/s", EFFICIENCY, HIGHER, "TFLOP/s per group",
           fmt=",.3g", description="per group: its share of the phase's FLOPs over its time"),
    Metric("mfu_by_group", "1", EFFICIENCY, HIGHER, "MFU per group (measured peak)", fmt=".1%",
           description="per group: achieved_tflops_by_group over matmul_peak_tflops"),
    # --- quality (fid records) ------------------------------------------------------------------
    Metric("fid_legacy_tf", "1", QUALITY, LOWER, "FID", fmt=".2f",
           description="FID with the TensorFlow-Inception resize protocol"),
    Metric("fid_pil_bicubic", "1", QUALITY, LOWER, "FID (PIL bicubic)", fmt=".2f",
           description="FID with PIL bicubic resizing to the Inception's 299 px"),
    Metric("kid_mean_legacy_tf", "1", QUALITY, LOWER, "KID", fmt=".4f",
           description="kernel inception distance, mean over subsets (TensorFlow resize)"),
    Metric("kid_mean_pil_bicubic", "1", QUALITY, LOWER, "KID (PIL bicubic)", fmt=".4f",
           description="kernel inception distance, mean over subsets (PIL bicubic resize)"),
    # --- budgets: what a cell or a checkpoint spent, not a cost to minimise ------------------------
    Metric("train_macs", "MAC", BUDGET, None, "training MACs", fmt=".3g",
           description="MACs spent training the checkpoint a fid record measured"),
    Metric("n_samples", "img", BUDGET, None, "samples", fmt=",d",
           description="images generated for a fid record"),
) + STORED_ONLY
# fmt: on

BY_KEY: dict[str, Metric] = {metric.key: metric for metric in METRICS}
if len(BY_KEY) != len(METRICS):
    raise ValueError("a metric key is declared twice in bench.metrics.METRICS")


def get(key: str) -> Metric:
    """The metric declared for `key`; an unknown key lists the known ones."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown metric {key!r}; known: {', '.join(BY_KEY)}") from None


def columns() -> tuple[Metric, ...]:
    """The metrics the report gives a column, in table order (of METRICS as it is at the call)."""
    return tuple(metric for metric in METRICS if metric.column)


def gated(metrics: tuple[Metric, ...] | None = None) -> tuple[Metric, ...]:
    """The metrics `rinbench compare` judges, in table order (of METRICS as it is at the call, so a
    metric added to the table is gated at once)."""
    return tuple(metric for metric in metrics or METRICS if metric.compare is not None)
