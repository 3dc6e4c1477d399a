"""Peer families: the public implementations people reach for instead of ours, each behind the one
backbone interface, so that the harness counts and times them with the same code as RIN, ADM and DiT.

- diffusers-dit: diffusers' DiTTransformer2DModel at the DiT settings (`diffusers_dit.py`).
- diffusers-unet: diffusers' UNet2DModel configured as the ADM U-Net (`diffusers_unet.py`).
- lucidrains-rin: lucidrains' rin-pytorch at the settings closest to our RIN presets
  (`lucidrains_rin.py`).
Each declares its family through `declare.peer_family`, which holds what they declare alike.

The packages come with an extra, `python -m pip install 'rinbench[peers]'`. Declaring these families
imports none of them: a model constructor imports its package (`bench.family.require`), so without the
extra a peer cell ends "unsupported" with the install line and the rest of rinbench works as before.
Each preset names the preset of ours it is set up to match (`Preset.counterpart`); its source note
says where the two differ. No peer code is copied here: the adapters call the installed packages.
Each module's FAMILY is declared to the registry by a line of pyproject.toml's
[project.entry-points."rinbench.families"].
"""
