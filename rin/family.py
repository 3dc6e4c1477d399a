"""The RIN family as the harness sees it: model, config, presets, FLOP groups, inputs, and what the
diffusion process needs to know of it."""

from bench.family import DiffusionNeeds, Family, gaussian_inputs
from rin.model import RIN, Attention, RINBlock, RINConfig
from rin.presets import PRESETS


def by_rin_stage(name: str, spatial: tuple[int, int] | None) -> str:
    """read / compute / write (the block's three stages, Jabri et al. 2023 section 3.1) / other."""
    parts = name.split(".")
    for stage in ("read", "compute", "write"):
        if stage in parts:
            return stage
    return "other"  # stem, readout, time and class embeddings, the self-conditioning MLP


def rin_diffusion_needs(cfg: RINConfig) -> DiffusionNeeds:
    """RIN's latents condition its next call (latent self-conditioning, Jabri et al. section 3.4),
    its time token embeds gamma(t) of the config's schedule, and a video config is given its
    `cond_frames` leading frames clean."""
    return DiffusionNeeds(
        recurrent_state=True,
        noise_schedule=cfg.noise_schedule,
        context_frames=cfg.cond_frames,
    )


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
    diffusion_needs=rin_diffusion_needs,
)
