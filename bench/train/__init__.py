"""Diffusion training of any backbone in the registry, and the equal-compute experiment.

settings.py       what a run is asked to do (TrainSettings), torch-free
model.py          the model config at the run's resolution, its schedule, MACs per step
optim.py          AdamW / LAMB, the learning-rate schedule, the EMA
checkpoint.py     checkpoints: atomic save, weights_only load, config and model from one
loop.py           train(): the training loop, data-parallel and exactly resumable
equal_compute.py  the equal-compute experiment (trains, then FID: the one import of bench.fid)
cli.py            `rinbench train` and `rinbench train equal-compute`
"""
