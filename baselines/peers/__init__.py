from baselines.peers.diffusers_dit import FAMILY as DIFFUSERS_DIT
from baselines.peers.diffusers_unet import FAMILY as DIFFUSERS_UNET

PEERS = (DIFFUSERS_DIT, DIFFUSERS_UNET)
