"""bench.measure.meta_emulation: on the meta device, what a train step's forward keeps for its backward
is what it keeps on real tensors. Held against the real thing on this CPU: the CPU's autocast and its
fused attention, on every tiny preset, with and without the low_precision_norms lever."""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import load_script

from bench import registry
from bench.measure.checkpointing import saved_activation_bytes
from bench.measure.meta_emulation import (
    aten_packet,
    emulated_autocast,
    fused_attention,
    installed_policy,
)
from bench.measure.norms import norm_modules, run_norms_in

TINY = ("rin-tiny", "adm-tiny", "dit-tiny", "vdm-tiny", "rin-video-tiny")
# The norms' saved mean and rstd (batch x groups values each) are fp32 in one kernel and the input's
# dtype in another (CPU group_norm with fp32 weights; meta layer_norm): on a tiny model that is up
# to 0.6% of what it keeps, on a paper-sized one nothing to speak of.
REL_TOLERANCE = 0.01


def kept(slug: str, device: str, autocast, norms: bool = False) -> int:
    """Bytes a batch-2 forward keeps for its backward, the model built on `device` from seed 0."""
    torch.manual_seed(0)
    with torch.device(device):
        model = registry.build(slug)
    if norms:
        run_norms_in(model, torch.bfloat16)
    x, t, y = registry.example_inputs(registry.config(slug), 2, device)

    def forward():
        with autocast():
            model(x, t, y)

    return saved_activation_bytes(model, forward)


REAL_CPU_BF16 = functools.partial(torch.autocast, "cpu", dtype=torch.bfloat16)
EMULATED_CPU_BF16 = functools.partial(emulated_autocast, "cpu", torch.bfloat16)
EMULATED_CUDA_BF16 = functools.partial(emulated_autocast, "cuda", torch.bfloat16)


@pytest.mark.parametrize("slug", TINY)
def test_the_meta_count_is_the_real_cpu_count(slug):
    """fp32, and bf16 with and without the norms lever: meta with the emulation against real CPU
    tensors under the CPU's autocast (attention on its fused flash kernel on both)."""
    cases = {
        "fp32": (contextlib.nullcontext, contextlib.nullcontext, False),
        "bf16": (REAL_CPU_BF16, EMULATED_CPU_BF16, False),
        "bf16, norms": (REAL_CPU_BF16, EMULATED_CPU_BF16, True),
    }
    for name, (real, emulated, norms) in cases.items():
        on_cpu, on_meta = kept(slug, "cpu", real, norms), kept(slug, "meta", emulated, norms)
        assert abs(on_meta - on_cpu) <= REL_TOLERANCE * on_cpu, (name, on_cpu, on_meta)


def test_attention_on_meta_keeps_no_attention_matrix():
    """The math fallback keeps the (tokens x tokens) matrix; under fused_attention the count is the
    fused kernel's: query, key, value, output (4 x B x H x N x D) and the log-sum-exp (B x H x N)."""
    q = torch.empty(2, 4, 256, 32, device="meta", requires_grad=True)
    shapes = []

    def keep(tensor):
        shapes.append(tuple(tensor.shape))
        return tensor

    with fused_attention(), torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        F.scaled_dot_product_attention(q, q * 2, q * 3)
    assert (2, 4, 256, 256) not in shapes and (2, 4, 256) in shapes, shapes
    # Real tensors are left to torch, and a call the fused op would not take runs as before.
    with fused_attention():
        mask = torch.zeros(4, 256, 256, device="meta")  # 3-D: the fused op takes 2-D or 4-D
        assert F.scaled_dot_product_attention(q, q, q, attn_mask=mask).shape == q.shape
        real = torch.randn(1, 2, 8, 16)
        assert F.scaled_dot_product_attention(real, real, real).shape == real.shape


@pytest.mark.parametrize("slug", TINY)
def test_under_cudas_rules_norms_run_in_fp32_and_the_lever_keeps_less(slug):
    """CUDA's autocast runs group_norm and layer_norm in fp32 (the CPU's does not): emulated on meta,
    every norm hands fp32 on, and with low_precision_norms bf16, keeping less for the backward."""
    for norms, want in ((False, torch.float32), (True, torch.bfloat16)):
        with torch.device("meta"):
            model = registry.build(slug)
        if norms:
            run_norms_in(model, torch.bfloat16)
        dtypes = norm_output_dtypes(model, slug)
        assert dtypes == {want}, (norms, dtypes)
    plain = kept(slug, "meta", EMULATED_CUDA_BF16)
    assert kept(slug, "meta", EMULATED_CUDA_BF16, norms=True) < plain


def norm_output_dtypes(model, slug: str) -> set:
    """The dtypes the model's norms hand on in a batch-2 forward under CUDA's rules, on meta."""
    dtypes = set()
    for module in norm_modules(model):
        module.register_forward_hook(lambda module, args, output: dtypes.add(output.dtype))
    x, t, y = registry.example_inputs(registry.config(slug), 2, "meta")
    with EMULATED_CUDA_BF16():
        model(x, t, y)
    return dtypes


def test_autocast_turned_off_turns_the_emulation_off():
    x = torch.empty(4, 8, device="meta")
    w = torch.empty(8, 8, device="meta", requires_grad=True)
    with EMULATED_CUDA_BF16():
        assert F.linear(x, w).dtype == torch.bfloat16
        assert F.layer_norm(x.bfloat16(), (8,)).dtype == torch.float32
        with torch.autocast("cpu", enabled=False):
            assert F.linear(x, w).dtype == torch.float32
    with pytest.raises(ValueError, match="unknown autocast policy 'tpu'; known: cuda, cpu"):
        emulated_autocast("tpu", torch.bfloat16)


def _torchs_lists() -> dict[str, set[str]]:
    """The op names of torch's own autocast test lists (torch/testing/_internal/
    autocast_test_lists.py), read as source: importing it needs torch's test dependencies."""
    spec = importlib.util.find_spec("torch.testing._internal")
    path = Path(spec.submodule_search_locations[0]) / "autocast_test_lists.py"
    if not path.is_file():
        pytest.skip(f"this torch ships no {path.name}")
    lists: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            for assign in ast.walk(node):
                if isinstance(assign, ast.Assign) and isinstance(assign.value, ast.List):
                    target = assign.targets[0]
                    if isinstance(target, ast.Attribute):
                        names = {
                            element.elts[0].value
                            for element in assign.value.elts
                            if isinstance(element, ast.Tuple)
                            and isinstance(element.elts[0], ast.Constant)
                        }
                        lists[f"{node.name}.{target.attr}"] = names
    return lists


def test_the_policies_agree_with_torchs_own_lists():
    """Every op our CUDA and CPU policies keep on the installed torch is in torch's list for that
    device and precision (SDPA excepted: torch's lists leave it out, autocast_mode.cpp has it in
    both); every name is an aten op, and what our families call stays in."""
    lists = _torchs_lists()
    cuda = "AutocastTestLists."
    cuda_lower = lists[cuda + "torch_fp16"] | lists[cuda + "nn_fp16"] | lists[cuda + "methods_fp16"]
    cuda_fp32 = lists[cuda + "torch_fp32"] | lists[cuda + "nn_fp32"] | lists[cuda + "methods_fp32"]
    cpu = "AutocastCPUTestLists."
    cpu_lower = lists[cpu + "torch_16"] | lists[cpu + "nn_16"]
    cpu_fp32 = lists[cpu + "torch_fp32"] | lists[cpu + "nn_fp32"]
    sdpa = {"scaled_dot_product_attention"}
    on_cuda, on_cpu = installed_policy("cuda"), installed_policy("cpu")
    assert set(on_cuda["lower"]) - sdpa <= cuda_lower
    assert set(on_cuda["fp32"]) <= cuda_fp32
    assert set(on_cpu["lower"]) - sdpa <= cpu_lower | {"__matmul__"}  # matmul's operator
    assert set(on_cpu["fp32"]) <= cpu_fp32
    called = {"conv2d", "conv3d", "linear", "matmul", "bmm", "baddbmm", "einsum"} | sdpa
    assert called <= set(on_cuda["lower"]) and called - {"einsum", "conv3d"} <= set(on_cpu["lower"])
    assert {"layer_norm", "group_norm", "softmax", "mse_loss"} <= set(on_cuda["fp32"])
    with pytest.raises(ValueError, match="no aten op"):
        aten_packet("not_an_op")


def test_the_script_tables_every_lever_and_a_suites_train_steps(tmp_path, capsys):
    """benchmarks/saved_activations.py: a row per memory lever for a preset; with --suite, a row per
    train step of the suite's CUDA plan with the first lever that fits under the capacity."""
    script = load_script("benchmarks/saved_activations.py")
    assert script.main(["dit-tiny", "--batch", "2", "--dtype", "bf16"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| dit-tiny")]
    levers = [row.split(" | ")[3] for row in rows]
    assert levers == ["none", "checkpointing=attention", "checkpointing=blocks",
                      "low_precision_norms", "checkpointing=attention, low_precision_norms",
                      "checkpointing=blocks, low_precision_norms"]  # fmt: skip
    suite = tmp_path / "tiny.toml"
    suite.write_text(
        'devices = ["cuda"]\n[[grid]]\npresets = ["adm-tiny", "dit-tiny"]\nbatches = [2]\n'
        'dtypes = ["bf16", "fp32"]\nphases = ["forward", "train_step"]\n',
        encoding="utf-8",
    )
    assert script.main(["--suite", str(suite)]) == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if ".cuda |" in line]
    assert len(rows) == 4 and all(".train_step." in row[0] for row in rows)
    assert all(row[-1] == "no lever |" for row in rows)  # tiny models fit an H100
    for row in rows:  # no norms lever without autocast
        assert (row[2] == row[4] == "") == (".fp32." in row[0]), row
    assert script.main(["--suite", str(suite), "--capacity-gib", "1e-9"]) == 0
    assert capsys.readouterr().out.count("none of these") == 4


def test_the_floor_under_cudas_rules_lies_just_under_each_peak_the_h200_measured():
    """The committed H200 check's eager bf16 train steps (ADM-256 b16, RIN-256 b32, DiT-XL/2 b64):
    kept activations counted on meta under CUDA's emulated autocast, plus weights and AdamW state,
    is at most the measured peak (the backward's transients come on top) and within 5% of it."""
    from bench.results import read

    root = Path(__file__).resolve().parents[1]
    records = read(sorted((root / "benchmarks/results/gpu-check-h200").rglob("*.jsonl")))
    steps = [
        r for r in records
        if r.cell.phase == "train_step" and r.cell.mode == "eager" and r.cell.dtype == "bf16"
        and r.status == "ok" and r.values.get("peak_alloc_bytes")
    ]  # fmt: skip
    assert {r.cell.preset for r in steps} >= {"adm-in256", "rin-in256", "dit-xl-2"}
    script = load_script("benchmarks/saved_activations.py")
    for record in steps:
        cell = record.cell
        state = script.parameter_count(cell.preset) * script.STATE_BYTES_PER_PARAMETER
        floor = script.kept_bytes(cell.preset, cell.batch, "bf16", None, False) + state
        peak = record.values["peak_alloc_bytes"]
        assert 0.95 * peak <= floor <= peak, (cell.id, floor / 2**30, peak / 2**30)


def test_a_pass_without_grad_leaves_the_next_pass_its_gradients():
    # A cast made under no_grad has no graph back to its weight: it is not kept for the next pass.
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(4, 8)
    with EMULATED_CUDA_BF16():
        with torch.no_grad():
            layer(x)
        layer(x).float().sum().backward()
    assert layer.weight.grad is not None and layer.bias.grad is not None
