"""What a train step's forward keeps for its backward, per checkpointing kind, counted on the meta device.

    python benchmarks/saved_activations.py PRESET [PRESET ...] [--batch N]

For each preset: the bytes autograd keeps while the model runs forward on a batch of N (fp32, the
model's parameters left out; bench.measure.checkpointing.saved_activation_bytes), without
checkpointing and with each kind of the `checkpointing` lever its family declares. Nothing is
allocated, so a preset of any size is counted in seconds on any machine. fp32 only: autocast has no
meta kernels, and a GPU's mixed-precision peak (some activations bf16, some fp32) is the GPU check's
to measure. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GIB = 2**30


def kept_bytes(slug: str, batch: int, kind: str | None) -> int:
    import torch

    from bench import registry
    from bench.measure.checkpointing import checkpoint_units, saved_activation_bytes

    with torch.device("meta"):
        model = registry.build(slug)
    if kind is not None:
        checkpoint_units(model, registry.get(slug).declared_by.checkpoint_units[kind])
    model.train()
    x, t, y = registry.example_inputs(registry.config(slug), batch, "meta")
    return saved_activation_bytes(model, lambda: model(x, t, y))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="+")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error(f"--batch must be at least 1, got {args.batch}")
    from bench import registry

    try:
        units = {slug: registry.get(slug).declared_by.checkpoint_units for slug in args.presets}
    except KeyError as err:
        parser.error(err.args[0])
    print("| preset | batch | kept, none (GiB) | kind | kept (GiB) | of none |")
    print("|---|---|---|---|---|---|")
    for slug in args.presets:
        plain = kept_bytes(slug, args.batch, None)
        for kind in units[slug]:
            kept = kept_bytes(slug, args.batch, kind)
            print(
                f"| {slug} | {args.batch} | {plain / GIB:.1f} | {kind} | {kept / GIB:.1f} | "
                f"{kept / plain:.0%} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
