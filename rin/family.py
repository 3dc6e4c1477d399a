"""The RIN family as the harness sees it: model, config, presets, FLOP groups, inputs."""

from bench.family import Family, gaussian_inputs
from rin.model import RIN, Attention, RINBlock, RINConfig
from rin.presets import PRESETS


def by_rin_stage(name: str, spatial: tuple[int, int] | None) -> str:
    """read / compute / write (the block's three stages, Jabri et al. 2023 section 3.1) / other."""
    parts = name.split(".")
    for stage in ("read", "compute", "write"):
        if stage in parts:
            return stage
    return "other"  # stem, readout, time and class embeddings, the self-conditioning MLP


FAMILY = Family(
    name="rin",
    description="Recurrent Interface Network (Jabri et al. 2023; google-research/pix2seq)",
    model=RIN,
    config=RINConfig,
    presets=PRESETS,
    flop_grouping=by_rin_stage,
    make_inputs=gaussian_inputs,
    # "attention": the read and write cross-attention and the latents' self-attention;
    # "blocks": each read-compute-write block whole.
    checkpoint_units={"attention": (Attention,), "blocks": (RINBlock,)},
)
