from baselines.peers.lucidrains_rin import FAMILY as LUCIDRAINS_RIN

PEERS = (LUCIDRAINS_RIN,)
