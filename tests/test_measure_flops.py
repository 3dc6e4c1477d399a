"""bench.measure.flops: counts on meta against closed forms, fvcore, and CPU; groups; the benchmark."""

import time
import warnings
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from helpers import count_preset, optional_import
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from baselines.dit import SelfAttention
from baselines.families import by_resolution
from bench import registry
from bench.family import DiffusionNeeds
from bench.measure.flops import FAST_META_KERNELS, FastMetaKernels, count_flops, count_params

# --- toy backbones with the interface forward(x, t, y=None, state=None) -> (out, state) -------------


@dataclass(frozen=True)
class ToyConfig:
    name: str = "toy"
    resolution: int = 8
    in_channels: int = 16
    num_classes: int = 0

    @property
    def input_shape(self):
        return (self.in_channels, self.resolution, self.resolution)


class AttentionBlock(nn.Module):
    """Self-attention over the H*W positions with a residual: DiT's layer (fused QKV, SDPA, output
    projection); the closed forms below are written out independently of it."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.attention = SelfAttention(channels, heads)

    def forward(self, x_BCHW):
        tokens_BTC = x_BCHW.flatten(2).transpose(1, 2)
        return x_BCHW + self.attention(tokens_BTC).transpose(1, 2).reshape_as(x_BCHW)


class ConvBlock(nn.Module):
    """3x3 conv C -> 2C, then a stride-2 3x3 conv 2C -> C (halving H and W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2 * channels, 3, padding=1)
        self.down = nn.Conv2d(2 * channels, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return self.down(F.silu(self.conv(x)))


class Toy(nn.Module):
    def __init__(self, block: nn.Module, cfg: ToyConfig = ToyConfig()):
        super().__init__()
        self.cfg = cfg
        self.block = block

    def forward(self, x, t, y=None, state=None):
        return self.block(x), None


def toy_inputs(batch: int, cfg: ToyConfig = ToyConfig()):
    return lambda model: (torch.randn(batch, *cfg.input_shape), torch.rand(batch), None)


def test_attention_block_equals_closed_form():
    C, side, batch = 16, 8, 3
    T = side * side
    result = count_flops(lambda: Toy(AttentionBlock(C, heads=4)), toy_inputs(batch))
    # QKV T*C*3C, Q K^T and A V T^2*C each (all heads together), projection T*C*C.
    expected = T * C * 3 * C + 2 * T * T * C + T * C * C
    assert result["macs_fwd"] == expected
    assert result["macs_fwd_batch"] == batch * expected
    assert result["flops_fwd"] == 2 * expected
    assert result["flops_fwd_batch"] == 2 * batch * expected
    assert sum(result["macs_fwd_by_op"].values()) == expected


def test_conv_block_equals_closed_form():
    C, side = 16, 8
    result = count_flops(lambda: Toy(ConvBlock(C)), toy_inputs(2))
    # H*W*k^2*C_in*C_out at each conv's output size.
    expected = side * side * 9 * C * 2 * C + (side // 2) ** 2 * 9 * 2 * C * C
    assert result["macs_fwd"] == expected
    assert result["macs_fwd_by_op"] == {"convolution": expected}


def test_cpu_and_meta_agree_for_sdpa():
    """Meta counts SDPA. On CPU the math backend agrees; the default CPU kernel may count 0 for the
    attention (pytorch#195460, torch 2.14), which is why counts are taken on meta."""
    C, side, batch = 16, 8, 2
    T = side * side
    meta = count_flops(lambda: Toy(AttentionBlock(C, heads=4)), toy_inputs(batch))
    model = Toy(AttentionBlock(C, heads=4))
    x, t, _ = toy_inputs(batch)(model)

    def cpu_count():
        with FlopCounterMode(display=False) as counter:
            model(x, t)
        return counter.get_total_flops() // 2

    with sdpa_kernel(SDPBackend.MATH):
        assert cpu_count() == meta["macs_fwd_batch"]
    attention = batch * 2 * T * T * C
    assert cpu_count() in (meta["macs_fwd_batch"], meta["macs_fwd_batch"] - attention)


class ParameterInput(nn.Module):
    """Feeds a view of a parameter to a submodule (as RIN feeds its latents), and uses `state`."""

    def __init__(self, cfg: ToyConfig = ToyConfig()):
        super().__init__()
        self.cfg = cfg
        self.latents = nn.Parameter(torch.randn(4, cfg.in_channels))
        self.attend = nn.Linear(cfg.in_channels, cfg.in_channels)

    def forward(self, x, t, y=None, state=None):
        latents = self.attend(self.latents.expand(x.shape[0], -1, -1))
        if state is not None:
            latents = latents + self.attend(state)
        return x + latents.mean(1)[:, :, None, None], latents


def test_no_grad_pass_with_parameter_input_is_counted():
    """A no_grad pass that hands a module a parameter view trips FlopCounterMode's own module
    tracker ("Expected gradient function to be set"); the counter here does not use it."""

    def self_conditioned_loss(model, x0, y):
        t = torch.rand(x0.shape[0])
        with torch.no_grad():
            _, state = model(x0, t, y)
        out, _ = model(x0, t, y, state)
        return out.square().mean()

    result = count_flops(
        ParameterInput,
        toy_inputs(2),
        train_step=True,
        loss=self_conditioned_loss,
        needs=DiffusionNeeds(recurrent_state=True),  # its state conditions the next call
    )
    C = ToyConfig().in_channels
    per_call = 4 * C * C  # one Linear over 4 latent tokens
    assert result["macs_fwd"] == 2 * per_call  # with the state of a previous call
    # no_grad pass (1 call) + pass with gradients (2 calls) + their backward: weight and input
    # gradients on the parameter path (the latents are trained), the weight gradient alone on the
    # state path (the state came from the no_grad pass).
    assert result["macs_train_step"] == per_call + 2 * per_call + 3 * per_call


def test_meta_inputs_are_required():
    with pytest.raises(ValueError, match="meta"):
        count_flops(
            lambda: Toy(ConvBlock(16)),
            (torch.randn(1, 16, 8, 8, device="cpu"), torch.rand(1), None),
        )


def test_a_group_is_a_function_not_a_family_name():
    # Each family declares its grouping (registry.get(slug).flop_grouping); names are not looked up.
    with pytest.raises(TypeError, match="grouping function"):
        count_flops(lambda: Toy(ConvBlock(16)), toy_inputs(1), group="adm")


def test_resolution_groups_follow_the_feature_map():
    result = count_flops(lambda: Toy(ConvBlock(16)), toy_inputs(1), group=by_resolution)
    C = 16
    # The stride-2 conv counts at its input size (8 px), where the block's own input is.
    assert result["macs_fwd_by_group"] == {
        "8px": 64 * 9 * C * 2 * C + 16 * 9 * 2 * C * C,
    }


# --- the faster meta kernels answer exactly as torch's own ----------------------------------------------


def meta(*shape, dtype=torch.float32):
    return torch.empty(shape, device="meta", dtype=dtype)


aten = torch.ops.aten
STAND_IN_CASES = {
    "addmm": (aten.addmm.default, (meta(5), meta(3, 4), meta(4, 5)), {}),
    "addmm-2d-bias-transposed": (aten.addmm.default, (meta(3, 5), meta(3, 4), meta(5, 4).t()), {}),
    "addmm-mixed-dtypes": (
        aten.addmm.default,
        (meta(5), meta(3, 4), meta(4, 5, dtype=torch.bfloat16)),
        {},
    ),
    "layer-norm": (
        aten.native_layer_norm.default,
        (meta(2, 5, 7), [7], meta(7), meta(7), 1e-6),
        {},
    ),
    "layer-norm-2d": (
        aten.native_layer_norm.default,
        (meta(2, 5, 7), [5, 7], None, None, 1e-5),
        {},
    ),
    "layer-norm-strided": (
        aten.native_layer_norm.default,
        (meta(2, 7, 5).transpose(1, 2), [7], None, None, 1e-5),
        {},
    ),
    "group-norm": (
        aten.native_group_norm.default,
        (meta(2, 64, 4, 4), None, None, 2, 64, 16, 32, 1e-5),
        {},
    ),
    "group-norm-bf16": (
        aten.native_group_norm.default,
        (meta(2, 64, 4, 4, dtype=torch.bfloat16), None, None, 2, 64, 16, 32, 1e-5),
        {},
    ),
    "gelu-tanh": (aten.gelu.default, (meta(2, 3, 8),), {"approximate": "tanh"}),
    "gelu-strided": (aten.gelu.default, (meta(2, 8, 3).transpose(1, 2),), {}),
}
if hasattr(aten, "_safe_softmax"):
    STAND_IN_CASES |= {
        "softmax": (aten._safe_softmax.default, (meta(2, 3, 5, 5), -1), {}),
        "softmax-dtype": (aten._safe_softmax.default, (meta(2, 3, 5, 5), -1, torch.float64), {}),
    }


@pytest.mark.parametrize("case", sorted(STAND_IN_CASES))
def test_fast_meta_kernels_match_torch(case):
    op, args, kwargs = STAND_IN_CASES[case]
    assert op in FAST_META_KERNELS
    expected = op(*args, **kwargs)
    with FastMetaKernels():
        got = op(*args, **kwargs)
    expected, got = (out if isinstance(out, tuple) else (out,) for out in (expected, got))
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert (g.shape, g.stride(), g.dtype, g.device) == (e.shape, e.stride(), e.dtype, e.device)


# --- the real presets ---------------------------------------------------------------------------------

TINY = ["rin-tiny", "adm-tiny", "dit-tiny", "vdm-tiny", "rin-video-tiny"]
EXPECTED_GROUPS = {
    "rin": {"read", "compute", "write", "other"},
    "dit": {"attention", "mlp", "adaln", "other"},
}


def analytic_macs(slug: str, resolution: int | None = None) -> int:
    """The family's closed form (a test oracle written beside each model)."""
    from baselines import dit, unet, unet3d
    from rin import model as rin

    cfg = registry.config(slug, resolution)
    family = registry.get(slug).family
    if family == "rin":
        return sum(rin.analytic_macs(cfg).values())
    closed_forms = {
        "adm": unet.analytic_macs,
        "dit": dit.analytic_macs,
        "vdm": unet3d.analytic_macs,
    }
    return closed_forms[family](cfg)


@pytest.mark.parametrize("slug", TINY)
def test_tiny_presets_match_closed_form_and_groups(slug):
    result = count_preset(slug, train_step=True)
    assert result["macs_fwd"] == pytest.approx(analytic_macs(slug), rel=0.01)
    assert sum(result["macs_fwd_by_group"].values()) == result["macs_fwd"]
    family = registry.get(slug).family
    groups = set(result["macs_fwd_by_group"])
    if family in ("adm", "vdm"):
        cfg = registry.config(slug)
        assert groups <= {f"{size}px" for size in cfg.level_sizes} | {"other"}
        assert f"{cfg.resolution}px" in groups
    else:
        assert groups == EXPECTED_GROUPS[family]
    # Train step: forward + backward (2x) per pass; RIN adds its self-conditioning forward.
    ratio = result["macs_train_step"] / result["macs_fwd"]
    assert ratio == pytest.approx(4.0 if family == "rin" else 3.0, rel=0.05)


def test_rin_groups_match_its_closed_form():
    result = count_preset("rin-in64", batch=1)
    from rin.model import analytic_macs as rin_macs

    expected = rin_macs(registry.config("rin-in64"))
    for group, macs in expected.items():
        assert result["macs_fwd_by_group"][group] == pytest.approx(macs, rel=0.01)


def fvcore_macs(slug: str, batch: int = 2) -> float:
    """fvcore's count with a handle for SDPA (which it does not know) and norms and resampling
    ignored, so that it counts what FlopCounterMode counts: matmuls, convs, attention."""
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # fvcore's import and the jit tracer warn about deprecations
        from fvcore.nn import FlopCountAnalysis

        cfg = registry.config(slug)
        model = registry.build(slug).eval()
        x, t, y = registry.example_inputs(cfg, batch, "cpu")

        class Output(nn.Module):  # the tracer wants tensors in and out
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, x, t):
                return self.model(x, t, y)[0]

        def sdpa(inputs, outputs):
            q, k = (value.type().sizes() for value in inputs[:2])
            v = inputs[2].type().sizes()
            # Q K^T: B*h*Sq*Sk*d, A V: B*h*Sq*Sk*d_v
            return q[0] * q[1] * q[2] * k[2] * (q[3] + v[3])

        def uncounted(inputs, outputs):
            return 0

        # (A None handle would only silence the warning; fvcore keeps its own norm handles.)
        not_matmuls = ["group_norm", "layer_norm", "batch_norm", "upsample_nearest2d"]
        analysis = FlopCountAnalysis(Output(), (x, t))
        analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa)
        analysis.set_op_handle(**{f"aten::{name}": uncounted for name in not_matmuls})
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        with torch.no_grad():
            return analysis.total() / batch


@pytest.mark.parametrize("slug", TINY)
def test_fvcore_agrees_within_one_percent(slug):
    optional_import("fvcore", extra="test")
    assert fvcore_macs(slug) == pytest.approx(count_preset(slug)["macs_fwd"], rel=0.01)


def test_count_params_on_meta():
    with torch.device("meta"):
        model = registry.build("dit-xl-2")
    counts = count_params(model)
    assert counts["params"] == 675_129_632  # DiT-XL/2's official count (frozen positions included)
    assert counts["params_trainable"] == counts["params"] - 256 * 1152


# --- the counting benchmark ----------------------------------------------------------------------------

# Every paper preset at its own resolution, plus one preset per family (DiT in latent and in pixel
# space) at 64-1024 px: the counts the `quick` suite and the paper tables need.
SCALING = ["rin-in256", "adm-in256", "dit-xl-2", "dit-xl-16-px"]
RESOLUTIONS = [64, 128, 256, 512, 1024]


def count_everything() -> dict:
    counts = {}
    for slug in registry.slugs():
        # The peers' counts are checked against ours, difference by difference, in test_peers_*.py.
        if not slug.endswith("-tiny") and not registry.get(slug).declared_by.peer_of:
            counts[slug, None] = count_preset(slug, batch=1)["macs_fwd"]
    for slug in SCALING:
        for resolution in RESOLUTIONS:
            counts[slug, resolution] = count_preset(slug, resolution, batch=1)["macs_fwd"]
    return counts


@pytest.mark.slow
def test_benchmark_count_every_preset(benchmark):
    """Forward counts of every paper preset and the scaling grid; budget < 10 s in all on 2 cores
    (reported by pytest-benchmark, not asserted: CI machines vary). Each count is checked against its
    family's closed form."""
    start = time.perf_counter()
    counts = benchmark.pedantic(count_everything, rounds=1, iterations=1)
    benchmark.extra_info["seconds_total"] = time.perf_counter() - start
    benchmark.extra_info["counts"] = len(counts)
    for (slug, resolution), macs in counts.items():
        assert macs == pytest.approx(analytic_macs(slug, resolution), rel=0.01), (slug, resolution)
    # Published values, in GMACs: ADM-64 in EDM2 Table 3 (Karras et al. 2024), DiT-XL/2 in the DiT
    # paper's Table 4 (256 px) and section 5 (512 px; Peebles & Xie 2023).
    assert counts["adm-in64", None] / 1e9 == pytest.approx(109.68, rel=0.005)
    assert counts["dit-xl-2", None] / 1e9 == pytest.approx(118.62, rel=0.005)
    assert counts["dit-xl-2", 512] / 1e9 == pytest.approx(524.54, rel=0.005)


def test_a_model_that_cannot_run_is_not_counted():
    # The fast meta kernels must not answer for shapes torch itself would refuse.
    from bench.measure.flops import count_flops

    class Broken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = torch.nn.LayerNorm(8)
            self.linear = torch.nn.Linear(8, 4)

        def forward(self, x, t, y=None, state=None):
            return self.linear(self.norm(x)), None

    inputs = (torch.empty(2, 16, device="meta"), torch.empty(2, device="meta"), None)
    with pytest.raises(RuntimeError):
        count_flops(Broken, inputs)
