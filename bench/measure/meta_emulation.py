"""What the meta device does not do as a GPU would, done by hand: autocast, and fused attention.

The meta device sizes any model without memory (bench.measure.checkpointing.saved_activation_bytes
counts what a train step keeps for its backward), but two things run differently there:

- **Autocast** does not act on meta tensors: under torch.autocast they stay fp32. What a
  mixed-precision step keeps depends on which ops autocast runs in half precision and which in fp32
  (a tensor an op saves is saved in the dtype the op ran in). `emulated_autocast(policy, dtype)`
  casts the arguments of the ops a policy lists, as autocast would: "lower" ops (convolutions,
  linear, matmuls, SDPA) get `dtype`, parameters cast once per forward (autocast caches their
  casts); "fp32" ops get fp32; every other op runs in the dtypes it is given. The casts happen
  above autograd, as autocast's do, so autograd saves the cast tensors.
- **Scaled dot-product attention** falls back to its math decomposition, which keeps the
  attention matrix for the backward. The fused kernels a GPU (or a CPU) runs keep only the query,
  key, value, output and the log-sum-exp. `fused_attention()` runs SDPA through aten's
  `_scaled_dot_product_flash_attention_for_cpu`, whose meta kernel keeps what theirs keep.

The policies list the ops our families and losses call, from each device's lists in torch's
aten/src/ATen/autocast_mode.cpp (the installed torch's torch/testing/_internal/
autocast_test_lists.py names them too; tests/test_meta_emulation.py checks ours against it where it
is installed): CUDA's, to size a GPU train step on any machine, and the CPU's, for the test that
holds the emulation against the real thing on real CPU tensors.

Limit: an op is seen where a torch function or Tensor method is called; the inside of a
Python-level torch function outside the lists (nn.MultiheadAttention's, say) runs unconverted. The
families here call their matmuls, attention and norms directly. Autocast's state lives in the
CPU's autocast (entered around the emulation; it does not act on meta tensors): code that turns
autocast off around an op, as bench.measure.norms does, turns the emulation off there too.
torch is imported in the functions.
"""

from __future__ import annotations

# Ops autocast runs in the lower precision, and ops it runs in fp32, per device: the entries of
# aten/src/ATen/autocast_mode.cpp (torch 2.4 to 2.14) a model's forward and loss can reach; the
# emulation applies those the running torch has (installed_policy).
POLICIES = {
    "cuda": {
        "lower": (
            "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
            "conv_transpose3d", "conv_tbc", "prelu", "addmm", "addmv", "addr", "matmul", "einsum",
            "mm", "mv", "chain_matmul", "addbmm", "baddbmm", "bmm", "linear", "__matmul__",
            "scaled_dot_product_attention",
        ),
        "fp32": (
            "acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p",
            "reciprocal", "rsqrt", "sinh", "tan", "pow", "__pow__", "softplus", "softmax",
            "log_softmax", "layer_norm", "rms_norm", "group_norm", "norm", "cosine_similarity",
            "cumprod", "cumsum", "dist", "pdist", "cdist", "prod", "renorm", "sum", "logsumexp",
            "l1_loss", "smooth_l1_loss", "mse_loss", "kl_div", "nll_loss",
            "binary_cross_entropy_with_logits",
        ),
    },
    "cpu": {
        "lower": (
            "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
            "conv_transpose3d", "conv_tbc", "prelu", "bmm", "mm", "matmul", "baddbmm", "addmm",
            "addbmm", "linear", "__matmul__", "scaled_dot_product_attention",
        ),
        "fp32": (
            "avg_pool3d", "binary_cross_entropy", "l1_loss", "smooth_l1_loss", "mse_loss",
            "huber_loss", "nll_loss", "binary_cross_entropy_with_logits",
        ),
    },
}  # fmt: skip
# The autocast whose enabled state the emulation reads (meta tensors have none of their own).
STATE_DEVICE = "cpu"
# The dispatch key of each policy's autocast, and the aten op behind a name that is not one.
DISPATCH_KEYS = {"cuda": "AutocastCUDA", "cpu": "AutocastCPU"}
ATEN_NAMES = {"__matmul__": "matmul", "__pow__": "pow"}


def aten_packet(name: str):
    """The aten op (with all its overloads) that the torch function or method `name` runs."""
    import torch

    aten_name = ATEN_NAMES.get(name, name)
    if not hasattr(torch.ops.aten, aten_name):
        raise ValueError(f"{name!r} names no aten op")
    return getattr(torch.ops.aten, aten_name)


def installed_policy(policy: str) -> dict[str, tuple[str, ...]]:
    """POLICIES[policy] less the ops the installed torch's autocast leaves alone on that device:
    the lists change between releases (rms_norm joined CUDA's fp32 list after torch 2.11, the
    torch of the GPU machine), and the emulation follows the torch that runs it. An op counts as
    handled where any of its overloads has a kernel under the device's autocast dispatch key."""
    import torch

    if policy not in POLICIES:
        raise ValueError(f"unknown autocast policy {policy!r}; known: {', '.join(POLICIES)}")
    key = DISPATCH_KEYS[policy]

    def handled(name: str) -> bool:
        packet = aten_packet(name)
        qualified = (
            packet._qualified_op_name + ("" if overload == "default" else f".{overload}")
            for overload in packet.overloads()
        )
        return any(torch._C._dispatch_has_kernel_for_dispatch_key(op, key) for op in qualified)

    return {
        precision: tuple(name for name in names if handled(name))
        for precision, names in POLICIES[policy].items()
    }


def _functions(names: tuple[str, ...]) -> list:
    """Every callable a model can reach an op by: torch.NAME, torch.nn.functional.NAME,
    torch.Tensor.NAME and torch._C._nn.NAME, where they exist."""
    import torch
    import torch.nn.functional as F

    spaces = (torch, F, torch.Tensor, torch._C._nn)
    return [getattr(space, name) for name in names for space in spaces if hasattr(space, name)]


def emulated_autocast(policy: str, dtype):
    """A context in which the ops of POLICIES[policy] that the installed torch's autocast handles
    (installed_policy) take the dtypes that device's autocast to
    `dtype` (torch.bfloat16 or torch.float16) gives them, on any tensors (meant for meta ones)."""
    import contextlib

    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils._pytree import tree_map

    if dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(f"autocast runs in bfloat16 or float16, not {dtype}")
    ops = installed_policy(policy)
    targets = {f: dtype for f in _functions(ops["lower"])}
    targets |= {f: torch.float32 for f in _functions(ops["fp32"])}
    halves = (torch.float32, torch.bfloat16, torch.float16)  # what autocast casts (not fp64)

    class EmulatedAutocast(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.casts = {}  # (id, dtype) -> (parameter, its cast): autocast casts a weight once

        def cast(self, value, target):
            if not isinstance(value, torch.Tensor) or value.dtype not in halves:
                return value
            if value.dtype == target:
                return value
            if not (value.is_leaf and value.requires_grad and torch.is_grad_enabled()):
                return value.to(target)  # a cast under no_grad has no graph: not one to keep
            key = (id(value), target)
            if key not in self.casts:  # the parameter is kept with its cast, so its id stays its
                self.casts[key] = (value, value.to(target))
            return self.casts[key][1]

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            target = targets.get(func)
            if target is not None and torch.is_autocast_enabled(STATE_DEVICE):
                args, kwargs = tree_map(lambda value: self.cast(value, target), (args, kwargs))
            return func(*args, **kwargs)

    stack = contextlib.ExitStack()
    stack.enter_context(torch.autocast(STATE_DEVICE, dtype=dtype))
    stack.enter_context(EmulatedAutocast())
    return stack


def fused_attention():
    """A context in which F.scaled_dot_product_attention on meta tensors runs as a fused kernel
    (aten's CPU flash-attention op, whose meta kernel keeps query, key, value, output and
    log-sum-exp for the backward) instead of the math fallback that keeps the attention matrix. A
    call a fused kernel would not take as it is (dropout, a mask of another rank than 2 or 4, keys
    of another width than the values, grouped queries) runs as before."""
    import torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    fused = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu

    class FusedAttention(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is F.scaled_dot_product_attention:
                call = _fusable(*args, **kwargs)
                if call is not None:
                    query, key, value, options = call
                    return fused(query, key, value, **options)[0]
            return func(*args, **kwargs)

    return FusedAttention()


def _fusable(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
             enable_gqa=False):  # fmt: skip
    """(query, key, value, keyword arguments of the fused op) for a call on meta tensors the
    fused op takes as it is; None for any other."""
    tensors = (query, key, value)
    takes_it = (
        all(t.device.type == "meta" for t in tensors)
        and len({t.dtype for t in tensors}) == 1
        and query.dim() == 4
        and query.shape[:-2] == key.shape[:-2] == value.shape[:-2]  # batch and heads alike
        and query.shape[-1] == key.shape[-1] == value.shape[-1]  # one head width
        and (attn_mask is None or attn_mask.dim() in (2, 4))
        and not dropout_p
        and not enable_gqa
    )
    options = {"is_causal": is_causal, "attn_mask": attn_mask, "scale": scale}
    return (query, key, value, options) if takes_it else None
