"""What a train step's forward keeps for its backward, per memory lever, counted on the meta device.

    python benchmarks/saved_activations.py PRESET [PRESET ...] [--batch N] [--dtype fp32|bf16|fp16]
    python benchmarks/saved_activations.py --suite SUITE [--capacity-gib GIB]

For each preset: the bytes autograd keeps while the model runs forward on a batch of N, the model's
parameters left out (bench.measure.checkpointing.saved_activation_bytes): with no lever, with each
kind of the `checkpointing` lever its family declares, and, in bf16 and fp16, with the
`low_precision_norms` lever alone and with each kind. Nothing is allocated, so a preset of any size
is counted in seconds on any machine. Attention is counted as the fused kernels keep it (no
attention matrix); bf16 and fp16 are CUDA's autocast, its casting rules applied by hand
(bench.measure.meta_emulation: the meta device has no autocast).

Beside each count, the state a train step holds at the end of its forward, when what it keeps is
most: the fp32 weights and AdamW's two moments, 12 bytes per parameter (the gradients do not exist
yet: the step frees them before its forward, zero_grad(set_to_none=True)). Their sum is a floor for
the step's peak; the backward's own buffers and the allocator's slack come on top. Prints a
Markdown table.

With --suite: every train step of the suite's CUDA plan (a built-in name or a TOML file) at its own
batch and dtype, its floor with no lever, with the norms in half precision (bf16 and fp16 cells),
with every block checkpointed, and with both, and which is the first of those whose floor is under
--capacity-gib (default 79.6: the 81,559 MiB an H100 80GB HBM3 reports; the CUDA context takes
about half a GiB of it, the backward's transients 0.3-2.1 GiB in the H200 check).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GIB = 2**30
# fp32 weights, AdamW's exp_avg and exp_avg_sq (no gradients at the end of the forward).
STATE_BYTES_PER_PARAMETER = 12
DTYPES = ("fp32", "bf16", "fp16")
# --suite's columns: (checkpointing kind, low_precision_norms), least intrusive first.
SUITE_VARIANTS = {
    "no lever": (None, False),
    "norms": (None, True),
    "blocks": ("blocks", False),
    "norms + blocks": ("blocks", True),
}


def kept_bytes(slug: str, batch: int, dtype: str, kind: str | None, norms: bool) -> int:
    import contextlib

    import torch

    from bench import registry
    from bench.measure.checkpointing import checkpoint_units, saved_activation_bytes
    from bench.measure.meta_emulation import emulated_autocast
    from bench.measure.norms import run_norms_in

    with torch.device("meta"):
        model = registry.build(slug)
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype)
    if norms:
        run_norms_in(model, half)
    if kind is not None:
        checkpoint_units(model, registry.get(slug).declared_by.checkpoint_units[kind])
    model.train()
    x, t, y = registry.example_inputs(registry.config(slug), batch, "meta")

    def forward():
        with emulated_autocast("cuda", half) if half else contextlib.nullcontext():
            model(x, t, y)

    return saved_activation_bytes(model, forward)


def parameter_count(slug: str) -> int:
    import torch

    from bench import registry
    from bench.measure.flops import count_params

    with torch.device("meta"):
        return count_params(registry.build(slug))["params"]


def rows(slug: str, batch: int, dtype: str, kinds) -> list[str]:
    state = parameter_count(slug) * STATE_BYTES_PER_PARAMETER
    variants = [(kind, False) for kind in (None, *kinds)]
    if dtype != "fp32":
        variants += [(kind, True) for kind in (None, *kinds)]
    plain = kept_bytes(slug, batch, dtype, None, False)
    lines = []
    for kind, norms in variants:
        kept = (
            plain if (kind, norms) == (None, False) else kept_bytes(slug, batch, dtype, kind, norms)
        )
        levers = [f"checkpointing={kind}"] * (kind is not None) + ["low_precision_norms"] * norms
        lines.append(
            f"| {slug} | {batch} | {dtype} | {', '.join(levers) or 'none'} | {kept / GIB:.1f} | "
            f"{kept / plain:.0%} | {state / GIB:.1f} | {(kept + state) / GIB:.1f} |"
        )
    return lines


def suite_rows(name: str, capacity_gib: float) -> list[str]:
    """A row per train step of the suite's CUDA plan: its floor per memory lever, and the first
    lever (in the table's order) whose floor is under the capacity."""
    from bench import registry, suites

    lines = []
    for item in suites.load(name, "cuda").plan:
        cell = item.cell
        if cell.phase != "train_step":
            continue
        dtype = "fp32" if cell.dtype == "tf32" else cell.dtype
        state = parameter_count(cell.preset) * STATE_BYTES_PER_PARAMETER
        declared = registry.get(cell.preset).declared_by.checkpoint_units
        floors = {}
        for label, (kind, norms) in SUITE_VARIANTS.items():
            if (norms and dtype == "fp32") or (kind is not None and kind not in declared):
                continue  # the lever cannot run on this cell
            kept = kept_bytes(cell.preset, cell.batch, dtype, kind, norms)
            floors[label] = (kept + state) / GIB
        fits = next(
            (label for label, gib in floors.items() if gib <= capacity_gib), "none of these"
        )
        shown = [f"{floors[label]:.1f}" if label in floors else "" for label in SUITE_VARIANTS]
        lines.append(f"| {cell.id} | {' | '.join(shown)} | {fits} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--dtype", choices=DTYPES, default="fp32")
    parser.add_argument("--suite", help="every train step of this suite's CUDA plan instead")
    parser.add_argument("--capacity-gib", type=float, default=79.6)
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error(f"--batch must be at least 1, got {args.batch}")
    if bool(args.presets) == bool(args.suite):
        parser.error("give presets or --suite, not both and not neither")
    from bench import registry, suites

    if args.suite:
        try:
            lines = suite_rows(args.suite, args.capacity_gib)
        except suites.SuiteError as err:
            parser.error(str(err))
        print(
            "| train step | floor, no lever (GiB) | norms | blocks | norms + blocks "
            f"| first under {args.capacity_gib:g} GiB |"
        )
        print("|---|---|---|---|---|---|")
        print("\n".join(lines))
        return 0

    try:
        units = {slug: registry.get(slug).declared_by.checkpoint_units for slug in args.presets}
    except KeyError as err:
        parser.error(err.args[0])
    print(
        "| preset | batch | dtype | levers | kept (GiB) | of no lever "
        "| weights, AdamW (GiB) | sum (GiB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for slug in args.presets:
        print("\n".join(rows(slug, args.batch, args.dtype, units[slug])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
