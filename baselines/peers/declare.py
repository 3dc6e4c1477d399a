"""What every peer family declares alike, so that each adapter states only what is its own."""

from bench.family import Family, Grouping, gaussian_inputs, no_diffusion_needs

# The rinbench extra that installs every peer's package (pyproject.toml).
EXTRA = "peers"


def peer_family(
    name: str,
    description: str,
    model: type,
    config: type,
    presets: dict,
    grouping: Grouping,
    *,
    package: str,
    peer_of: str,
    diffusion_needs=no_diffusion_needs,
) -> Family:
    """A peer family: Gaussian inputs of its config's input_shape, as every family here; `package`,
    the one it wraps, imported when a model is built and installed by the `peers` extra; `peer_of`,
    the family of ours it is measured against; `diffusion_needs`, what the diffusion process needs
    to know of its models (bench.family.Family.diffusion_needs; by default nothing)."""
    return Family(
        name, description, model, config, presets, grouping, gaussian_inputs,
        requires=(package,), extra=EXTRA, peer_of=peer_of, diffusion_needs=diffusion_needs,
    )  # fmt: skip
