"""FID, KID and IS of a backbone's samples, offline and sharded over torch.distributed ranks.

protocol.py   what names a FID number: resize protocol, Inception dtype, KID subset size
weights.py    the Inception weights: path, environment, torch-fidelity's cache, conversion
features.py   the Inception extractor, sharded extraction, the reference-feature cache
metrics.py    FID / KID / IS from features, in float64
sampling.py   a checkpoint's samples as PNGs: sharded, resumable
evaluate.py   end to end: compare_sources, fid_for_checkpoint, store_result (a `fid` record)
cli.py        `rinbench fid model | images | weights`
"""
