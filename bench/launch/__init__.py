"""Launchers: other ways to place a sweep's cells than one process on this machine.

    settings.py   the launcher's knobs (partition, account, time, ...), from flags or a suite's
                  [launcher] table; the `rinbench run` options that set them
    job.py        what a cluster job runs: measures its cells as the local runner does (one
                  process per timed cell) and reports each one in a progress file
    sweep.py      the parent: submits the jobs through submitit, turns their progress into
                  records (it is the only writer of the run file), cancels them on Ctrl-C,
                  re-attaches to them on --resume
    torchrun.py   `rinbench launch`: train or fid model on several nodes, torchrun under srun

submitit (`pip install 'rinbench[slurm]'`) is imported only where a job is submitted or re-attached.
"""
