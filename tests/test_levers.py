"""The levers of bench.measure.cell.Settings (channels_last, sdpa_backend, fused_optimizer,
compile_mode, checkpointing, low_precision_norms): same math, so the same numbers as the default
eager fp32 reference on the tiny presets (low_precision_norms: within bf16's rounding); refused
values and unavailable backends said, never substituted; counts untouched."""

from __future__ import annotations

import functools
import warnings

import pytest
import torch
from helpers import optional_import

from bench import registry
from bench.cell import Cell
from bench.measure import cell as measure_module
from bench.measure.cell import (
    Measurements,
    Settings,
    Unsupported,
    build_model,
    make_steps,
    measure,
)
from bench.measure.checkpointing import CHECKPOINTING_KINDS, saved_activation_bytes
from bench.measure.facts import MatmulPeak
from bench.measure.norms import norm_modules
from bench.measure.numerics import numerics
from bench.profiling.measure import measure_profile
from bench.suites import SuiteError, parse

FAST = Settings(warmup=1, min_repeats=2, min_seconds=0.0, sample_steps=2)
PEAK = MatmulPeak(tflops=0.05, dtype="float32", n=1024)
# One tiny preset per family, images and video (RIN-video's Conv3d patches take channels_last_3d).
TINY = ("rin-tiny", "adm-tiny", "dit-tiny", "vdm-tiny", "rin-video-tiny")
# The levers a CPU runs. torch's CPU has a flash-attention kernel of its own; "efficient" and
# "cudnn" are CUDA's only (test_a_backend_this_device_lacks_ends_the_cell_unsupported).
CPU_LEVERS = {
    "channels_last": {"channels_last": True},
    "sdpa_math": {"sdpa_backend": "math"},
    "sdpa_flash": {"sdpa_backend": "flash"},
    "fused_optimizer": {"fused_optimizer": True},
    "all": {"channels_last": True, "sdpa_backend": "math", "fused_optimizer": True},
    # Recomputation under the same RNG state: the same numbers, less kept for the backward.
    "checkpointing_attention": {"checkpointing": "attention"},
    "checkpointing_blocks": {"checkpointing": "blocks"},
}
FORWARD_LEVERS = ("channels_last", "sdpa_math", "sdpa_flash")  # no optimizer in a forward
# CPU flash attention takes only a 2-D or 4-D mask; VDM's temporal attention passes its relative
# position bias as a 3-D (heads, T, T) float mask.
CANNOT_RUN = {("vdm-tiny", "sdpa_flash")}

# Tolerances, against the default eager fp32 run of the same cell from the same seed. The levers
# reorder fp32 sums (another attention kernel, another convolution layout), nothing else:
# - outputs and the loss: max |difference| within 1e-5 of the reference's largest magnitude;
# - gradients: within 1e-5 of the largest gradient (GRAD_SLACK, in absolute terms);
# - weights after the step: AdamW's first step moves a weight by lr * g / (|g| + 1e-8), about
#   lr * sign(g). Where the reference gradient clears GRAD_SLACK tenfold, its sign is certain and
#   the weight must match within 1e-3 lr; where it does not, rounding may flip the sign, and the
#   weight may differ by up to the two steps, 2 lr (the gradients above carry those numbers).
RTOL_OUTPUT = 1e-5
RTOL_GRAD = 1e-5
LR = measure_module.TRAIN_STEP_LR


def tiny_cell(slug: str, phase: str, **changes) -> Cell:
    return Cell(slug, registry.config(slug).resolution, 2, phase=phase, **changes)


def run_once(slug: str, phase: str, settings: Settings) -> dict[str, torch.Tensor]:
    """One call of the cell's step as a timed cell builds it (build_model, make_steps): the forward
    output (and RIN's latents), or the train step's loss, gradients and updated weights."""
    cell = tiny_cell(slug, phase)
    device = torch.device("cpu")
    model, cfg = build_model(cell, device, settings)
    result = make_steps(model, cfg, cell, settings, device, Measurements())(cell.batch)()
    if phase == "forward":
        output, state = result
        return {"output": output} | ({"state": state} if state is not None else {})
    named = list(model.named_parameters())
    return (
        {"loss": result.detach()}
        | {f"grad {n}": p.grad.clone() for n, p in named if p.grad is not None}
        | {f"weight {n}": p.detach().clone() for n, p in named}
    )


@functools.cache
def reference(slug: str, phase: str) -> dict[str, torch.Tensor]:
    return run_once(slug, phase, Settings())


def check_close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    grads = {k.removeprefix("grad "): t for k, t in want.items() if k.startswith("grad ")}
    grad_slack = RTOL_GRAD * max((t.abs().max().item() for t in grads.values()), default=0)
    for key, expected in want.items():
        difference = (got[key] - expected).abs()
        if key.startswith("weight "):
            grad = grads.get(key.removeprefix("weight "), torch.zeros_like(expected))
            certain = grad.abs() > 10 * grad_slack
            tolerance = torch.where(certain, 1e-3 * LR, 2 * LR * (1 + 1e-3))
            assert (difference <= tolerance).all(), (key, difference.max().item())
        elif key.startswith("grad "):
            assert difference.max().item() <= grad_slack, (key, difference.max().item())
        else:
            scale = expected.abs().max().item()
            assert difference.max().item() <= RTOL_OUTPUT * scale, (key, difference.max(), scale)


@pytest.mark.parametrize("slug", TINY)
@pytest.mark.parametrize(
    ("phase", "lever"),
    [("forward", lever) for lever in FORWARD_LEVERS]
    + [("train_step", lever) for lever in CPU_LEVERS],
)
def test_a_lever_computes_what_the_default_computes(slug, phase, lever):
    settings = Settings(**CPU_LEVERS[lever])
    if (slug, lever) in CANNOT_RUN:
        # torch warns why its flash kernel refuses the call (the mask) before it raises.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="baselines")
            with pytest.raises(Unsupported, match=r"sdpa_backend 'flash' cannot run this model's"):
                run_once(slug, phase, settings)
        return
    check_close(run_once(slug, phase, settings), reference(slug, phase))


@pytest.mark.parametrize("slug", TINY)
def test_checkpointing_keeps_less_for_the_backward_attention_less_and_blocks_least(slug):
    """What autograd keeps during a train step's forward (bench.measure.checkpointing's count, on
    the meta device) falls with each kind, and every family declares both kinds."""
    kept = {}
    for kind in (None, *CHECKPOINTING_KINDS):
        cell = tiny_cell(slug, "train_step")
        model, cfg = build_model(cell, torch.device("meta"))
        if kind is not None:  # as make_steps does for a timed cell and its profile
            assert measure_module.checkpoint_cell(model, cell, kind) > 0
        x, t, y = registry.example_inputs(cfg, 2, "meta")
        kept[kind] = saved_activation_bytes(model, functools.partial(model, x, t, y))
    assert kept[None] > kept["attention"] > kept["blocks"] > 0, kept


def test_checkpointing_outside_a_train_step_or_without_units_is_unsupported():
    for phase in ("forward", "sample"):
        result = measure(tiny_cell("dit-tiny", phase), Settings(**FAST.as_dict() | {
            "checkpointing": "attention"}), peak=PEAK)  # fmt: skip
        assert result.status == "unsupported"
        assert f"phase {phase!r} runs none (only train_step does)" in result.error
    optional_import("diffusers", extra="peers")  # a peer family: it declares no units
    settings = Settings(**FAST.as_dict() | {"checkpointing": "blocks"})
    result = measure(tiny_cell("diffusers-dit-tiny", "train_step"), settings, peak=PEAK)
    assert result.status == "unsupported"
    assert "declares no units for checkpointing 'blocks'" in result.error
    assert "it declares: none" in result.error


def test_channels_last_reaches_every_convolution_of_images_and_folded_video_frames():
    """The layout is not just set and lost: every Conv2d/Conv3d input is channels-last, for ADM,
    for VDM's frames folded into the batch (channels_last_3d input, a free view) and RIN-video's
    Conv3d patches."""
    settings = Settings(channels_last=True)
    for slug in ("adm-tiny", "vdm-tiny", "rin-video-tiny"):
        cell = tiny_cell(slug, "forward")
        model, cfg = build_model(cell, torch.device("cpu"), settings)
        layouts = []

        def record(module, args, layouts=layouts):
            layout = measure_module.channels_last_format(args[0])
            layouts.append(args[0].is_contiguous(memory_format=layout))

        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.Conv3d):
                assert module.weight.is_contiguous(
                    memory_format=measure_module.channels_last_format(module.weight)
                )
                module.register_forward_pre_hook(record)
        make_steps(model, cfg, cell, settings, torch.device("cpu"), Measurements())(2)()
        assert layouts and all(layouts), slug


@pytest.mark.parametrize("backend", ["cudnn", "efficient"])
def test_a_backend_this_device_lacks_ends_the_cell_unsupported(backend):
    settings = Settings(**FAST.as_dict() | {"sdpa_backend": backend})
    for phase in ("forward", "train_step"):
        result = measure(tiny_cell("dit-tiny", phase), settings, peak=PEAK)
        assert result.status == "unsupported", result.error
        assert f"sdpa_backend {backend!r}" in result.error and "cpu" in result.error
    profiled = measure_profile(tiny_cell("dit-tiny", "profile:train_step"), settings.as_dict())
    assert profiled.status == "unsupported" and f"sdpa_backend {backend!r}" in profiled.error


def test_a_backend_the_model_cannot_use_is_unsupported_in_either_mode():
    """Flash runs the probe on a CPU but not VDM's masked temporal attention: unsupported at the
    first call, eager or compiled (not a failed compile)."""
    settings = Settings(**FAST.as_dict() | {"sdpa_backend": "flash", "compile_backend": "eager"})
    for mode in ("eager", "compile"):
        result = measure(tiny_cell("vdm-tiny", "forward", mode=mode), settings, peak=PEAK)
        assert result.status == "unsupported", (mode, result.error)
        assert "sdpa_backend 'flash' cannot run this model's attention" in result.error


# low_precision_norms rounds each norm's output to bf16: its train step is held, like the plain bf16
# one, to the fp32 reference within bf16's rounding (the plain bf16 step's gradients land within
# 0.3-0.8% of the reference's here).
BF16_RTOL_LOSS = 1e-2
BF16_RTOL_GRADS = 2e-2  # |all gradients - reference's| / |reference's|, as one vector


@pytest.mark.parametrize("slug", TINY)
def test_norms_in_bf16_keep_a_bf16_step_within_bf16s_rounding(slug):
    cell = tiny_cell(slug, "train_step", dtype="bf16")
    settings = Settings(low_precision_norms=True)
    model, cfg = build_model(cell, torch.device("cpu"), settings)
    out = Measurements()
    loss = make_steps(model, cfg, cell, settings, torch.device("cpu"), out)(cell.batch)()
    assert out.details["low_precision_norm_modules"] == len(norm_modules(model)) > 0
    want = reference(slug, "train_step")
    assert abs(loss.item() - want["loss"].item()) <= BF16_RTOL_LOSS * abs(want["loss"].item())
    grads = {f"grad {n}": p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert grads.keys() == {key for key in want if key.startswith("grad ")}
    got = torch.cat([grads[key].flatten() for key in sorted(grads)])
    expected = torch.cat([want[key].flatten() for key in sorted(grads)])
    assert (got - expected).norm() <= BF16_RTOL_GRADS * expected.norm()


def test_norms_in_bf16_run_under_compile_and_need_autocast():
    settings = Settings(
        **FAST.as_dict() | {"low_precision_norms": True, "compile_backend": "eager"}
    )
    cell = tiny_cell("dit-tiny", "train_step", dtype="bf16", mode="compile")
    result = measure(cell, settings, peak=PEAK)
    assert result.status == "ok", result.details.get("traceback") or result.error
    assert result.values["compile_graph_breaks"] == 0
    assert result.details["low_precision_norm_modules"] > 0
    result = measure(tiny_cell("dit-tiny", "forward"), settings, peak=PEAK)
    assert result.status == "unsupported"
    assert "dtype 'fp32' runs without autocast (only bf16 and fp16 do)" in result.error


def test_timed_cells_and_their_profile_run_with_every_cpu_lever():
    """Through measure and measure_profile: a sampler call (its fresh noise converted by the
    model's pre-hook) and a train step, timed and profiled."""
    settings = Settings(**FAST.as_dict() | CPU_LEVERS["all"])
    for slug, phase in (("adm-tiny", "sample"), ("rin-tiny", "train_step")):
        result = measure(tiny_cell(slug, phase), settings, peak=PEAK)
        assert result.status == "ok", result.details.get("traceback") or result.error
    profiled = measure_profile(tiny_cell("rin-tiny", "profile:train_step"), settings.as_dict())
    assert profiled.status == "ok", profiled.details.get("traceback") or profiled.error


def test_levers_run_under_compile():
    """dynamo traces the channels-last pre-hook, the SDPA backend set around the call and the
    checkpointed units."""
    settings = Settings(
        **FAST.as_dict()
        | CPU_LEVERS["all"]
        | {"compile_backend": "eager", "checkpointing": "blocks"}
    )
    result = measure(tiny_cell("rin-tiny", "train_step", mode="compile"), settings, peak=PEAK)
    assert result.status == "ok", result.details.get("traceback") or result.error
    assert result.values["compile_graph_breaks"] == 0


@pytest.mark.parametrize("slug", TINY)
def test_counts_do_not_depend_on_the_levers(slug):
    """Params and MACs are counted on the meta device, where no lever applies: the deterministic
    gate's numbers are the same with every lever on."""
    levers = Settings(
        **FAST.as_dict()
        | CPU_LEVERS["all"]
        | {"compile_mode": "reduce-overhead", "low_precision_norms": True}
    )
    for phase in ("params", "flops"):
        plain, levered = (
            measure(tiny_cell(slug, phase), FAST),
            measure(tiny_cell(slug, phase), levers),
        )
        assert plain.status == levered.status == "ok"
        assert plain.values == levered.values and plain.model == levered.model


def test_fused_adamw_a_device_lacks_is_unsupported(monkeypatch):
    def no_fused_kernel(params, lr, fused):
        raise RuntimeError("`fused=True` requires all the params to be on a supported device")

    monkeypatch.setattr(torch.optim, "AdamW", no_fused_kernel)
    settings = Settings(**FAST.as_dict() | {"fused_optimizer": True})
    result = measure(tiny_cell("dit-tiny", "train_step"), settings, peak=PEAK)
    assert result.status == "unsupported"
    assert result.error.startswith("fused_optimizer: ") and "cpu torch.float32" in result.error


def test_reduce_overhead_is_accepted_and_recorded():
    """The mode travels to torch.compile and into the record's details; dynamo's eager backend
    ignores it (only inductor reads modes), so no CUDA-graph count is claimed for it."""
    settings = Settings(
        **FAST.as_dict() | {"compile_backend": "eager", "compile_mode": "reduce-overhead"}
    )
    result = measure(tiny_cell("dit-tiny", "forward", mode="compile"), settings, peak=PEAK)
    assert result.status == "ok", result.details.get("traceback") or result.error
    assert result.details["compile_mode"] == "reduce-overhead"
    assert "compile_cudagraph_skips" not in result.values
    assert settings.as_dict()["compile_mode"] == "reduce-overhead"  # what a record stores


@pytest.mark.slow
def test_reduce_overhead_on_a_cpu_is_inductor_without_cuda_graphs():
    """Inductor compiles on a CPU (about half a minute here) and skips CUDA graphs for every graph:
    the record counts the skips, so that it cannot pass for a CUDA-graph run."""
    settings = Settings(**FAST.as_dict() | {"compile_mode": "reduce-overhead"})
    result = measure(tiny_cell("dit-tiny", "forward", mode="compile"), settings, peak=PEAK)
    assert result.status == "ok", result.details.get("traceback") or result.error
    assert result.details["compile_backend"] == "inductor"
    assert result.values["compile_cudagraph_skips"] >= 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"sdpa_backend": "fast"},
            "unknown sdpa_backend 'fast'; valid: flash, efficient, cudnn, math",
        ),
        (
            {"sdpa_backend": "none"},
            r"math \(or leave it out, for torch's own choice",
        ),  # TOML has no null
        ({"sdpa_backend": "FLASH_ATTENTION"}, "valid: flash, efficient, cudnn, math"),
        (
            {"compile_mode": "fastest"},
            "unknown compile_mode 'fastest'; valid: default, reduce-overhead",
        ),
        ({"channels_last": "yes"}, "channels_last = true or false"),
        ({"fused_optimizer": 1}, "fused_optimizer = true or false"),
        ({"checkpointing": "all"}, "unknown checkpointing 'all'; valid: attention, blocks"),
        ({"low_precision_norms": "bf16"}, "low_precision_norms = true or false"),
    ],
)
def test_settings_refuse_bad_lever_values(changes, message):
    with pytest.raises(ValueError, match=message):
        Settings(**changes)
    table = {"grid": [{"presets": ["dit-tiny"], "phases": ["forward"], "settings": changes}]}
    with pytest.raises(SuiteError):
        parse(table, name="bad")


def test_levers_are_off_by_default_and_a_suite_sets_them_per_grid_and_device():
    assert not any((Settings().channels_last, Settings().fused_optimizer))
    assert Settings().sdpa_backend is None and Settings().compile_mode is None
    table = {
        "devices": ["cpu", "cuda"],
        "grid": [
            {
                "presets": ["adm-tiny"],
                "phases": ["train_step"],
                "settings": {"channels_last": True, "cuda": {"sdpa_backend": "flash"}},
            }
        ],
    }
    by_device = {item.cell.device: item.settings for item in parse(table, name="levers").plan}
    assert by_device["cpu"].channels_last and by_device["cuda"].channels_last
    assert (by_device["cpu"].sdpa_backend, by_device["cuda"].sdpa_backend) == (None, "flash")


def test_lever_tables_agree_with_torch():
    import torch._inductor
    from torch.nn.attention import SDPBackend

    for member in measure_module.SDPA_BACKENDS.values():
        assert hasattr(SDPBackend, member), member
    assert set(measure_module.COMPILE_MODES) <= set(torch._inductor.list_mode_options())
    for mode in measure_module.CUDA_GRAPH_MODES:
        assert torch._inductor.list_mode_options()[mode].get("triton.cudagraphs") is True


# --- CUDA ---------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("slug", ["rin-tiny", "adm-tiny", "dit-tiny", "vdm-tiny"])
@pytest.mark.parametrize(
    "lever",
    [
        {"channels_last": True},
        {"sdpa_backend": "flash"},
        {"sdpa_backend": "efficient"},
        {"sdpa_backend": "cudnn"},
        {"sdpa_backend": "math"},
        {"fused_optimizer": True},
        {"checkpointing": "blocks"},
        {"low_precision_norms": True},
    ],
    ids=lambda lever: "-".join(f"{k}={v}" for k, v in lever.items()),
)
def test_levers_on_cuda_run_or_say_why(slug, lever, cuda_peak):
    """bf16 train steps: ok, or unsupported with the reason naming the lever (cuDNN attention needs
    a recent GPU and cuDNN; flash cannot take VDM's float mask)."""
    settings = Settings(**FAST.as_dict() | lever)
    result = measure(
        tiny_cell(slug, "train_step", dtype="bf16", device="cuda"), settings, peak=cuda_peak
    )
    if result.status == "unsupported":
        assert next(iter(lever)) in result.error, result.error
        assert "sdpa_backend" in lever, result.error  # layouts and fused AdamW run on any GPU
    else:
        assert result.status == "ok", result.details.get("traceback") or result.error


@pytest.mark.gpu
@pytest.mark.parametrize("slug", ["rin-tiny", "adm-tiny", "dit-tiny", "vdm-tiny"])
def test_layout_and_attention_levers_on_cuda_compute_the_same(slug):
    """fp32 on CUDA (TF32 off): channels-last convolutions and the efficient and math attention
    kernels reorder sums; cuDNN picks other algorithms per layout, hence a looser 1e-4."""
    device = torch.device("cuda")

    def forward(settings):
        cell = tiny_cell(slug, "forward", device="cuda")
        with numerics(tf32=False, cudnn_benchmark=False):
            model, cfg = build_model(cell, device, settings)
            output, _ = make_steps(model, cfg, cell, settings, device, Measurements())(2)()
        return output.float().cpu()

    want = forward(Settings())
    for lever in ({"channels_last": True}, {"sdpa_backend": "efficient"}, {"sdpa_backend": "math"}):
        try:
            got = forward(Settings(**lever))
        except Unsupported as err:  # a kernel that cannot take this model's attention: said
            assert "sdpa_backend" in lever and "sdpa_backend" in str(err), err
            continue
        assert (got - want).abs().max().item() <= 1e-4 * want.abs().max().item(), lever


@pytest.mark.gpu
def test_reduce_overhead_on_cuda_runs_cuda_graphs(cuda_peak):
    settings = Settings(**FAST.as_dict() | {"compile_mode": "reduce-overhead"})
    cell = tiny_cell("dit-tiny", "forward", dtype="bf16", mode="compile", device="cuda")
    result = measure(cell, settings, peak=cuda_peak)
    assert result.status == "ok", result.details.get("traceback") or result.error
    assert result.values["compile_cudagraph_skips"] == 0
