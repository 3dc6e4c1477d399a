"""Profiling: where one cell's step spends its time, beside where its MACs go, measured.

Three modules are about profiles, one job each: this package measures one (in a worker process);
`bench/commands/profile.py` is the command `rinbench profile`, which has it measure a cell; and
`reports/where_time_goes.py` turns the records into the report's "Where the time goes" and the
summary the command prints.

`rinbench profile CELL_OR_PRESET` (bench/commands/profile.py), or a suite with `profile = true` in
its settings, runs a cell's step under `torch.profiler`, never in the pass that times the cell: in a
process of its own, or, for a paired cell, in its pair's worker once the rounds are timed (on the
step they ran: `measure.profile_served`; again in a process of its own where that worker ran out
of memory, the record saying so). It files a record of phase "profile:<phase>"
(bench.cell.PROFILE_PHASES), so that it never shadows the timed record of the same cell.

Modules, one job each:
- `groups`: module hooks that open a profiler range per FLOP group (the family's `flop_grouping`,
  the same one `macs_fwd_by_group` is counted with), and the walk over the profiler's events that
  turns them into time per group (forward ranges; backward ops through autograd sequence numbers).
- `ops`: the per-operator table (self time, calls, share, FLOPs) and, on CUDA, the device's idle gaps.
- `artifacts`: the Chrome trace (.json.gz) and, on CUDA, the memory snapshot.
- `cite`: the sentence a wall-clock claim verdict cites from a profile (torch-free).
- `measure`: the worker's measure function (`bench.profiling.measure:measure_profile`): build the
  step as a timed cell does, time a few unprofiled calls, profile a few, and return the Outcome.

The breakdowns are computed here from torch.profiler's own events, with no further dependency. The
traces are the standard Chrome format, so Holistic Trace Analysis (the `HolisticTraceAnalysis`
package, facebookresearch/HolisticTraceAnalysis) can read a CUDA profile's folder for its kernel-type,
idle-time and launch-overhead breakdowns if a user has it.
"""

# The parts of a profiled step that are no FLOP group (keys of time_ms_by_group beside the
# family's groups); their names cannot clash with a group's (lower case without spaces: "read",
# "32px", "attention"). Here, torch-free, for reports/ to read.
OUTSIDE = "outside the model"  # loss, optimizer, sampler arithmetic, Python between module calls
BACKWARD_UNATTRIBUTED = "backward (unattributed)"  # backward nodes no forward op in a group made
DEVICE_IDLE = "device idle"  # CUDA: the step's wall time with no kernel running
NOT_GROUPS = (OUTSIDE, BACKWARD_UNATTRIBUTED, DEVICE_IDLE)
