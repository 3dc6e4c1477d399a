"""Paired timing (bench.paired): the two sides of a ratio timed interleaved in processes of their own,
every round kept, a failure on one side recorded while the other goes on, and a run interrupted
mid-pair resumed without losing or repeating a round.

A fake serve function stands in for the harness's (FAKE_SERVE): each side's k-th window reports a
latency of its base time x the drift of round k, the same drift for both sides, as a machine whose
speed wanders between rounds would; FAKE_SERVE_ACTIONS says what else a side does.
"""

import json
import os
import re
from pathlib import Path

import pytest

from bench import claims, intervals, paired, progress, results, runner, suites, timespent
from bench.record import CELL_TIME_KEY, PROFILE_RETRIED_ALONE_KEY, PROFILED_IN_PAIR_KEY, Outcome

REPO = Path(__file__).resolve().parents[1]
DRIFT = (1.0, 1.4, 0.8, 1.6, 1.1, 0.9)  # per round: the machine's speed wanders by up to 2x

FAKE_SERVE = (
    f"DRIFT = {DRIFT!r}\n"
    + '''
"""Test double for bench.worker.serve_cell (see tests/test_paired.py)."""
import fnmatch, json, os, signal, time

def serve(cell, settings, peak=None):
    actions = json.loads(os.environ.get("FAKE_SERVE_ACTIONS", "{}"))
    action = next((a for p, a in actions.items() if fnmatch.fnmatchcase(cell.id, p)), {})
    model = {"family": "fake", "params": 7, "config": {}, "config_sha": "0",
             "source": {"kind": "test"}}
    if action.get("setup") == "oom":
        yield {"status": "oom", "values": {}, "error": "out of memory on purpose", "model": model}
        return
    ask = yield {"status": "ok", "values": {"first_call_s": 0.01, "matmul_peak_tflops": 1.0,
                 "flops_per_call": 1e9}, "error": None, "model": model,
                 "details": {"cell_time_s": {"build": 0.5, "first_call": 0.01}}}
    base = action.get("ms", 10.0)
    number = 0
    while number < 100:
        if ask is not None and action.get("profile") != "window":  # the profile, on the same step
            if action.get("profile") == "interrupt":
                os.kill(os.getppid(), signal.SIGTERM)
                time.sleep(30)
            if action.get("profile") == "oom":
                ask = yield {"status": "oom", "values": {}, "error": "out of memory beside the pair",
                             "model": model, "details": {"cell_time_s": {"profile": 1.0,
                                                                         "measure": 1.5}}}
                continue
            ask = yield {"status": "ok", "values": {"profile_steps": 2, "profiled_ms_median": base,
                         "windows_before": number}, "error": None, "model": model,
                         "details": {"trace_dir": ask["profile"]["trace_dir"], "numerics": {},
                                     "cell_time_s": {"count": 0.125, "profile": 2.0,
                                                     "measure": 2.25}}}
            continue
        number += 1
        if action.get("interrupt_at") == number:
            os.kill(os.getppid(), signal.SIGTERM)
            time.sleep(30)
        if action.get("raise_at") == number:
            raise ValueError("broken on purpose")
        wobble = action.get("wobble", [1.0])  # this side's own factor per window, in turn
        ms = base * DRIFT[(number - 1) % len(DRIFT)] * wobble[(number - 1) % len(wobble)]
        samples = [ms * f for f in (0.99, 1.0, 1.01)]
        ask = yield {"status": "ok", "values": {"latency_ms_samples": samples, "latency_ms_median": ms,
               "latency_ms_warmup": [ms * (3.0 if number == 1 else 1.0)], "timed_iters": 3, "timed_window_s": 3 * ms / 1e3, "torch_threads": 2,
               "cpu_util_timed": 2.0, "peak_rss_bytes": 1000 + number},
               "error": None, "model": model,
               "details": {"latency_noisy_reason": "steady: spread 1%",
                           "cell_time_s": {"windows": 0.25}}}

def measure(cell, settings, peak=None):
    """Test double for a profile cell measured in a process of its own."""
    return {"status": "ok", "values": {"profile_steps": 2, "alone": 1}, "error": None,
            "model": {"family": "fake", "params": 7, "config": {}, "config_sha": "0",
                      "source": {"kind": "test"}}}
'''
)


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fake_serve")
    (folder / "fake_serve.py").write_text(FAKE_SERVE)
    return folder


@pytest.fixture
def fake(fake_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(fake_dir))
    paths = [str(fake_dir), str(REPO), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))

    def actions(table: dict) -> None:
        monkeypatch.setenv("FAKE_SERVE_ACTIONS", json.dumps(table))

    return actions


def pair_suite(rounds=5, profile=False, **stop):
    table = {
        "timeout_s": 60,
        "presets": ["adm-tiny", "rin-tiny"],
        "resolutions": [32],
        "phases": ["forward"],
        "pairs": {"presets": [["adm-tiny", "rin-tiny"]], "rounds": rounds} | stop,
    }
    if profile:
        table["settings"] = {"profile": True}
    return suites.parse(table, name="pairs")


def execute(plan, **options):
    with results.Writer(plan.path) as writer:
        return runner.execute(plan, writer, serve="fake_serve:serve", progress=False, **options)


def forward_records(path):
    return {r.cell.preset: r for r in results.read(path) if r.cell.phase == "forward"}


def test_a_pair_is_timed_in_alternating_rounds_and_the_drift_cancels_in_the_factor(fake, tmp_path):
    fake({"adm-tiny.*": {"ms": 30.0}, "rin-tiny.*": {"ms": 10.0}})
    plan = runner.plan(pair_suite(), tmp_path)
    summary = execute(plan)
    assert summary.statuses == {"ok": 2} and not summary.interrupted
    adm, rin = forward_records(plan.path).values()
    assert adm.details["pair"] == {
        "with": rin.cell.id,
        "role": "first",
        "rounds": 5,
        "orders": ["ab", "ba", "ab", "ba", "ab"],
        "short_of_cores": [],
        "after_first_call": [0],  # the rounds whose window was its worker's first
    }
    # Every round is kept: its median and its samples.
    medians = adm.values[intervals.ROUND_MEDIANS_KEY]
    assert medians == pytest.approx([30.0 * d for d in DRIFT[:5]])
    assert len(adm.values["latency_ms_samples_by_round"]) == 5
    assert adm.values["timed_iters"] == 15 and adm.values["peak_rss_bytes"] == 1005
    # Numbers among the values, reasons among the details (the MFU verdict's included).
    assert not [key for key, value in adm.values.items() if isinstance(value, str)]
    assert "mfu_suspect_reason" in adm.details and "mfu_suspect" in adm.values
    # Each side alone drifts by up to 2x, so its own interval is wide and it is flagged noisy...
    assert adm.values["latency_noisy"] == 1
    assert "interval over 5 rounds" in adm.details["latency_noisy_reason"]
    # ...while the factor, measured round by round, is exactly 3 with a tight interval.
    factor = intervals.factor_of_pair(adm, rin)
    assert factor.estimate == pytest.approx(3.0) and factor.half_width < 1e-9
    assert not list((tmp_path / "pairs").glob("*.rounds")), "the rounds log goes once recorded"
    # Where the time went: the set-up's parts, the windows' summed, the pair's wall on both sides.
    spent = adm.details[CELL_TIME_KEY]
    assert spent["build"] == 0.5 and spent["windows"] == pytest.approx(5 * 0.25)
    assert spent["pair_wall"] == rin.details[CELL_TIME_KEY]["pair_wall"] > 0


def test_a_pair_whose_factor_is_already_steady_stops_early_and_says_so(fake, tmp_path):
    # The drift lands on both sides alike: the factor reads 3 in every round, so its interval is
    # within 1% once the third round is in.
    fake({"adm-tiny.*": {"ms": 30.0}, "rin-tiny.*": {"ms": 10.0}})
    plan = runner.plan(pair_suite(stop_within=0.01), tmp_path)
    execute(plan)
    adm, rin = forward_records(plan.path).values()
    assert adm.details["pair"]["rounds"] == rin.details["pair"]["rounds"] == 3
    assert adm.details["pair"]["orders"] == ["ab", "ba", "ab"]
    stopped = adm.details["pair"]["stopped_early"]
    assert stopped == rin.details["pair"]["stopped_early"]
    assert stopped.startswith("after 3 of 5 rounds: the factor's 95% interval 3× [3, 3]")
    assert intervals.factor_of_pair(adm, rin).n == 3
    # A side with a spread of its own (one round in 10% slower) keeps the interval wide: all 5.
    fake({"adm-tiny.*": {"ms": 30.0, "wobble": [1.0, 1.1, 1.0]}, "rin-tiny.*": {"ms": 10.0}})
    plan = runner.plan(pair_suite(stop_within=0.01), tmp_path / "wobbly")
    execute(plan)
    adm, rin = forward_records(plan.path).values()
    assert adm.details["pair"]["rounds"] == 5 and "stopped_early" not in adm.details["pair"]


def test_a_side_that_fails_is_recorded_and_its_partner_goes_on_alone(fake, tmp_path):
    fake({"adm-tiny.*": {"ms": 30.0, "raise_at": 3}, "rin-tiny.*": {"ms": 10.0}})
    plan = runner.plan(pair_suite(), tmp_path)
    summary = execute(plan)
    adm, rin = forward_records(plan.path).values()
    assert adm.status == "error" and "broken on purpose" in adm.error
    assert len(adm.values[intervals.ROUND_MEDIANS_KEY]) == 2  # what it measured before failing
    assert rin.status == "ok" and len(rin.values[intervals.ROUND_MEDIANS_KEY]) == 5
    assert "broken on purpose" in rin.details["pair"]["partner_ended"]
    assert intervals.factor_of_pair(adm, rin) is None
    assert summary.statuses == {"ok": 1, "error": 1}


def test_a_paired_cells_profile_is_taken_by_its_worker_after_the_rounds(fake, tmp_path):
    # adm-tiny's worker profiles the step it timed; rin-tiny's side fails in its second window,
    # so its profile is measured as before, in a process of its own (the fake `measure`).
    fake({"adm-tiny.*": {"ms": 30.0}, "rin-tiny.*": {"ms": 10.0, "raise_at": 2}})
    plan = runner.plan(pair_suite(rounds=3, profile=True), tmp_path)
    summary = execute(plan, measure_spec="fake_serve:measure")
    assert summary.statuses == {"ok": 3, "error": 1} and not summary.interrupted
    records = {(r.cell.preset, r.cell.phase): r for r in results.read(plan.path)}
    adm, rin = records["adm-tiny", "forward"], records["rin-tiny", "forward"]
    taken, alone = records["adm-tiny", "profile:forward"], records["rin-tiny", "profile:forward"]
    assert adm.details["pair"]["rounds"] == 3 and rin.status == "error"
    assert taken.status == "ok" and taken.values["profiled_ms_median"] == 30.0
    assert taken.values["windows_before"] == 3  # after the rounds, on the step they timed
    assert taken.details[PROFILED_IN_PAIR_KEY] == {"timed": adm.cell.id, "with": rin.cell.id}
    assert taken.details["trace_dir"] == str(plan.path.with_suffix(""))  # beside the run file
    assert taken.settings == adm.settings
    spent = taken.details[CELL_TIME_KEY]
    assert 0 < spent["wall"] < adm.details[CELL_TIME_KEY]["pair_wall"] and "pair_wall" not in spent
    assert alone.values["alone"] == 1 and PROFILED_IN_PAIR_KEY not in alone.details
    # The time table: the pair's wall once, and each profile's own.
    (run,) = timespent.time_spent(results.read(plan.path))
    walls = [r.details[CELL_TIME_KEY].get("wall", 0.0) for r in (taken, alone)]
    assert run.wall_s == pytest.approx(adm.details[CELL_TIME_KEY]["pair_wall"] + sum(walls))
    assert run.parts_s["other"] == pytest.approx(2.25 - 0.125)  # the taken profile's steps
    assert run.parts_s["count"] == pytest.approx(0.125)


def test_a_run_cut_during_a_profile_keeps_the_timed_pair_and_the_profiles_taken(fake, tmp_path):
    # The rounds are recorded before any profile is asked for, and each profile as soon as it is
    # in: a cut during the second side's (the GPU check's budget) loses neither, and --resume
    # measures only the profile that was cut, in a process of its own.
    fake({"adm-tiny.*": {"ms": 30.0}, "rin-tiny.*": {"ms": 10.0, "profile": "interrupt"}})
    plan = runner.plan(pair_suite(rounds=2, profile=True), tmp_path)
    assert execute(plan, measure_spec="fake_serve:measure").interrupted
    kept = {(r.cell.preset, r.cell.phase): r for r in results.read(plan.path)}
    assert sorted(kept) == [
        ("adm-tiny", "forward"), ("adm-tiny", "profile:forward"), ("rin-tiny", "forward"),
    ]  # fmt: skip
    assert PROFILED_IN_PAIR_KEY in kept["adm-tiny", "profile:forward"].details
    assert not list((tmp_path / "pairs").glob("*.rounds"))
    again = runner.plan(pair_suite(rounds=2, profile=True), tmp_path, resume=plan.path)
    assert [item.cell.id for item in again.todo] == [
        "rin-tiny.r32.b1.fp32.profile:forward.eager.cpu"
    ]
    execute(again, measure_spec="fake_serve:measure")
    (alone,) = [r for r in results.read(plan.path) if r.cell.id == again.todo[0].cell.id]
    assert alone.values["alone"] == 1


def test_a_profile_out_of_memory_in_its_pair_is_taken_again_alone_and_says_so(fake, tmp_path):
    # The pair's worker still holds what its windows left (the first side's, its partner's worker
    # too): one record per cell, the attempts kept in it and counted in the time table. Attempts
    # waiting from an earlier play of the pair (a resumed run) join adm-tiny's, and leave
    # rin-tiny's profile, which its pair's worker took this time, as they found it.
    fake({"adm-tiny.*": {"ms": 30.0, "profile": "oom"}, "rin-tiny.*": {"ms": 10.0}})
    plan = runner.plan(pair_suite(rounds=1, profile=True), tmp_path)
    earlier = paired.RetriesLog.beside(plan.path)
    earlier.add("adm-tiny.r32.b1.fp32.profile:forward.eager.cpu", {"status": "oom", "error": "1"})
    earlier.add("rin-tiny.r32.b1.fp32.profile:forward.eager.cpu", {"status": "oom", "error": "2"})
    summary = execute(plan, measure_spec="fake_serve:measure")
    assert summary.statuses == {"ok": 4} and not summary.interrupted
    records = {(r.cell.preset, r.cell.phase): r for r in results.read(plan.path)}
    assert len(records) == 4 and not earlier.path.exists()
    alone, taken = records["adm-tiny", "profile:forward"], records["rin-tiny", "profile:forward"]
    first, attempt = alone.details[PROFILE_RETRIED_ALONE_KEY]
    adm, rin = records["adm-tiny", "forward"].cell.id, records["rin-tiny", "forward"].cell.id
    assert alone.values["alone"] == 1 and PROFILED_IN_PAIR_KEY not in alone.details
    assert first == {"status": "oom", "error": "1"} and attempt["machine"]  # this one's name
    assert {k: attempt[k] for k in ("status", "error", "timed", "with")} == {
        "status": "oom", "error": "out of memory beside the pair", "timed": adm, "with": rin,
    }  # fmt: skip
    assert taken.status == "ok" and PROFILE_RETRIED_ALONE_KEY not in taken.details
    (run,) = timespent.time_spent(results.read(plan.path))
    tried = attempt[CELL_TIME_KEY]
    assert tried["measure"] == 1.5 and tried["wall"] > 0
    walls = [r.details[CELL_TIME_KEY]["wall"] for r in (alone, taken)]
    pair_wall = records["adm-tiny", "forward"].details[CELL_TIME_KEY]["pair_wall"]
    assert run.wall_s == pytest.approx(pair_wall + sum(walls) + tried["wall"])


def test_a_profile_its_pairs_worker_takes_is_shown_in_flight_while_it_runs(
    fake, tmp_path, monkeypatch
):
    # The bar names the cell in flight: a profile the pair's worker takes is in flight from its
    # ask; one that ran out of memory there steps aside until its process of its own takes it.
    events, shown = [], []

    class Watched(progress.CellProgress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            shown.append(self)

        def start(self, cell):
            events.append(("start", cell.preset, cell.phase))
            super().start(cell)

        def aside(self, cell):
            events.append(("aside", cell.preset, cell.phase))
            super().aside(cell)

        def done(self, cell, outcome, where=""):
            events.append(("done", cell.preset, cell.phase))
            super().done(cell, outcome, where)

    monkeypatch.setattr(runner, "CellProgress", Watched)
    fake({"adm-tiny.*": {"ms": 30.0, "profile": "oom"}, "rin-tiny.*": {"ms": 10.0}})
    plan = runner.plan(pair_suite(rounds=1, profile=True), tmp_path)
    assert execute(plan, measure_spec="fake_serve:measure").statuses == {"ok": 4}
    profiles = {
        preset: [what for what, name, phase in events if name == preset and phase != "forward"]
        for preset in ("adm-tiny", "rin-tiny")
    }
    assert profiles == {
        "adm-tiny": ["start", "aside", "start", "done"],
        "rin-tiny": ["start", "done"],
    }
    assert shown[0].in_flight == [] and shown[0].count == 4


def test_a_cut_before_the_retry_alone_keeps_the_attempt_for_the_resumed_record(fake, tmp_path):
    # adm-tiny's profile runs out of memory in its pair, then rin-tiny's cuts the run (the check's
    # budget): the attempt waits beside the run file, and --resume's record carries it.
    fake({"adm-tiny.*": {"ms": 30.0, "profile": "oom"}, "rin-tiny.*": {"profile": "interrupt"}})
    plan = runner.plan(pair_suite(rounds=1, profile=True), tmp_path)
    assert execute(plan, measure_spec="fake_serve:measure").interrupted
    waiting = plan.path.with_suffix(paired.RETRIES_SUFFIX)
    adm_profile = "adm-tiny.r32.b1.fp32.profile:forward.eager.cpu"
    assert list(paired.RetriesLog.beside(plan.path).attempts) == [adm_profile]
    again = runner.plan(pair_suite(rounds=1, profile=True), tmp_path, resume=plan.path)
    assert execute(again, measure_spec="fake_serve:measure").statuses == {"ok": 2}
    records = {r.cell.id: r for r in results.read(plan.path)}
    (attempt,) = records[adm_profile].details[PROFILE_RETRIED_ALONE_KEY]
    assert attempt["status"] == "oom" and attempt[CELL_TIME_KEY]["measure"] == 1.5
    rin_profile = adm_profile.replace("adm-tiny", "rin-tiny")
    assert PROFILE_RETRIED_ALONE_KEY not in records[rin_profile].details
    assert not waiting.exists()


def test_a_serve_function_that_answers_a_profile_ask_with_a_window_is_an_error(fake, tmp_path):
    fake({"adm-tiny.*": {"ms": 30.0, "profile": "window"}, "rin-tiny.*": {"ms": 10.0}})
    plan = runner.plan(pair_suite(rounds=1, profile=True), tmp_path)
    execute(plan, measure_spec="fake_serve:measure")
    records = {(r.cell.preset, r.cell.phase): r for r in results.read(plan.path)}
    assert records["adm-tiny", "forward"].status == "ok"  # the timed side keeps its rounds
    broken = records["adm-tiny", "profile:forward"]
    assert broken.status == "error" and "no profile" in broken.error
    assert records["rin-tiny", "profile:forward"].status == "ok"


def test_a_side_that_cannot_be_set_up_leaves_its_partner_timed_alone(fake, tmp_path):
    fake({"adm-tiny.*": {"setup": "oom"}, "rin-tiny.*": {"ms": 10.0}})
    plan = runner.plan(pair_suite(rounds=2), tmp_path)
    execute(plan)
    adm, rin = forward_records(plan.path).values()
    assert adm.status == "oom" and rin.status == "ok"
    assert rin.details["pair"]["rounds"] == 2


def test_an_interrupted_pair_resumes_at_its_next_round(fake, tmp_path):
    fake({"adm-tiny.*": {"ms": 30.0}, "rin-tiny.*": {"ms": 10.0, "interrupt_at": 3}})
    plan = runner.plan(pair_suite(), tmp_path)
    summary = execute(plan)
    assert summary.interrupted and not results.read(plan.path)
    logged = paired.RoundsLog.beside(plan.path).done(pair_suite().pairs[0])
    assert [entry["round"] for entry in logged] == [1, 2]  # round 3 was cut short: not logged

    fake({"adm-tiny.*": {"ms": 30.0}, "rin-tiny.*": {"ms": 10.0}})
    again = runner.plan(pair_suite(), tmp_path, resume=plan.path)
    assert {item.cell.preset for item in again.todo} == {"adm-tiny", "rin-tiny"}
    assert not execute(again).interrupted
    adm, rin = forward_records(plan.path).values()
    # Five rounds, neither lost nor repeated: the first two from before the interruption, the
    # rest from fresh processes whose windows count from one again.
    assert adm.values[intervals.ROUND_MEDIANS_KEY] == pytest.approx(
        [30.0 * d for d in (*DRIFT[:2], *DRIFT[:3])]
    )
    assert adm.details["pair"]["orders"] == ["ab", "ba", "ab", "ba", "ab"]
    # Round 3 followed the fresh worker's first call, as round 1 did: its warm-up is a first's.
    assert adm.details["pair"]["after_first_call"] == [0, 2]
    assert [len(calls) for calls in adm.values["latency_ms_warmup_by_round"]] == [1] * 5
    found = timespent.warm_up([adm, rin])
    assert found.first == [[3.0] * 4]
    # ab ba ab ba ab: adm-tiny's rounds 2 and 4 follow rin-tiny's window, its round 5 its own.
    assert found.after_own == [[1.0] * 3] and found.after_partner == [[1.0] * 3]
    # The seconds are this run's: the three windows timed within its wall time, not the logged.
    assert adm.details[CELL_TIME_KEY]["windows"] == pytest.approx(3 * 0.25)


def cut_after_two_rounds(fake, tmp_path):
    """A pair's run cut in its third round: (its plan, its rounds log, the two rounds logged)."""
    fake({"adm-tiny.*": {"ms": 30.0}, "rin-tiny.*": {"ms": 10.0, "interrupt_at": 3}})
    plan = runner.plan(pair_suite(), tmp_path)
    assert execute(plan).interrupted
    log = Path(plan.path).with_suffix(paired.ROUNDS_SUFFIX)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) == 2
    return plan, log, entries


def test_rounds_logged_on_another_machine_are_measured_again(fake, tmp_path):
    # A run cut mid-pair on one GPU and resumed on another kind (a lease's second call on a fresh
    # machine): the logged rounds are not this machine's to merge.
    plan, log, entries = cut_after_two_rounds(fake, tmp_path)
    assert entries[0]["machine"]  # this machine's name
    log.write_text("".join(json.dumps(e | {"machine": "NVIDIA H200"}) + "\n" for e in entries))

    fake({"adm-tiny.*": {"ms": 30.0}, "rin-tiny.*": {"ms": 10.0}})
    assert not execute(runner.plan(pair_suite(), tmp_path, resume=plan.path)).interrupted
    adm, rin = forward_records(plan.path).values()
    assert adm.values[intervals.ROUND_MEDIANS_KEY] == pytest.approx([30.0 * d for d in DRIFT[:5]])
    assert rin.details["pair"]["rounds_dropped"].startswith(
        "2 logged round(s) measured on NVIDIA H200, not on "
    )


def test_rounds_logged_under_other_settings_are_measured_again(fake, tmp_path):
    # A run cut mid-pair, its suite's timing changed before the resume (a newer rinbench's
    # warm-up rule): one record must not merge rounds of both. A setting that changes no window
    # (profile), or one a logged round lacks (its default then), keeps the round.
    plan, log, entries = cut_after_two_rounds(fake, tmp_path)
    assert entries[0]["settings"]["warmup"] == 3
    entries[0]["settings"] |= {"warmup": 5, "warmup_steady_within": 0.02}
    entries[1]["settings"] = {"profile": True}
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))

    fake({"adm-tiny.*": {"ms": 30.0}, "rin-tiny.*": {"ms": 10.0}})
    assert not execute(runner.plan(pair_suite(), tmp_path, resume=plan.path)).interrupted
    adm, rin = forward_records(plan.path).values()
    assert adm.details["pair"]["rounds"] == 5
    # The kept round 2 was B A: the orders go on alternating from it.
    assert adm.details["pair"]["orders"] == ["ba", "ab", "ba", "ab", "ba"]
    assert rin.details["pair"]["rounds_dropped"] == (
        "1 logged round(s) timed under other settings (warmup, warmup_steady_within): measured "
        "again here"
    )


def test_an_entry_appended_after_a_line_cut_short_is_kept(tmp_path):
    # Two cuts: the first leaves half a line; the resumed run appends after it; the next resume
    # must read every whole entry, the one after the fragment too.
    log = paired.RetriesLog(tmp_path / "run.retries")
    log.add("a", {"round": 1})
    log.path.write_text(log.path.read_text(encoding="utf-8") + '{"cell": "b", "att', "utf-8")
    log.add("c", {"round": 3})
    assert paired.RetriesLog.beside(tmp_path / "run.jsonl").attempts == {
        "a": [{"round": 1}],
        "c": [{"round": 3}],
    }


def test_a_side_timed_in_one_round_is_noisy_however_tight_its_window():
    # One window's samples give a tight interval of that window's noise; with no second round
    # there is no interval over rounds, and the side is flagged (as judge_rounds promises).
    item = suites.parse({"presets": ["adm-tiny"], "phases": ["forward"]}, name="one").plan[0]
    samples = [10.0, 10.1, 9.9, 10.05, 9.95, 10.0, 10.02, 9.98]
    window = Outcome("ok", {"latency_ms_samples": samples, "latency_ms_median": 10.0})
    setup = Outcome("ok", {"flops_per_call": 1e9})
    merged = paired.merge(setup, [window], item, partner="p", role="first", orders=["ab"])
    assert merged.values["latency_noisy"] == 1
    assert merged.details["latency_noisy_reason"].startswith(
        "noisy: 1 round: no interval over rounds"
    )


def test_the_device_view_is_said_to_hold_the_partner_only_when_it_did():
    item = suites.parse(
        {"presets": ["rin-tiny"], "phases": ["forward"], "devices": ["cuda"]}, name="one"
    ).plan[0]
    window_values = {"latency_ms_samples": [9.0, 10.0, 11.0], "latency_ms_median": 10.0}

    def merged(used, reason, partner_resident):
        window = Outcome(
            "ok", window_values | {"nvml_used_bytes": used}, details={"nvml_used_reason": reason}
        )
        setup = Outcome("ok", {"flops_per_call": 1e9})
        outcome = paired.merge(
            setup,
            [window],
            item,
            partner="x",
            role="first",
            orders=["ab"],
            partner_resident=partner_resident,
        )
        return outcome.details["nvml_used_reason"]

    assert "partner's process held its weights" in merged(2**30, None, partner_resident=True)
    assert merged(2**30, None, partner_resident=False) is None  # its set-up failed: never there
    unread = "nvidia-ml-py not importable"
    assert merged(None, unread, partner_resident=True) == unread  # nothing read: its own reason


def test_pairs_in_a_suite_are_checked_with_one_line_each():
    def suite_with(pairs, **axes):
        table = {"presets": ["adm-tiny", "rin-tiny"], "resolutions": [32], "phases": ["forward"]}
        return suites.parse(table | axes | {"pairs": pairs}, name="bad")

    assert len(suite_with({"presets": [["adm-tiny", "rin-tiny"]]}).pairs) == 1
    bad = [
        ({"presets": [["adm-tiny", "rin-tiny"]], "rounds": 0}, "rounds must be an integer >= 1"),
        ({"presets": [["adm-tiny", "rin-tiny"]], "stop_within": 5}, "between 0 and 1 (0.01: +-1%)"),
        ({"presets": [["adm-tiny", "rin-tiny"]], "min_rounds": 3}, "min_rounds needs stop_within"),
        (
            {"presets": [["adm-tiny", "rin-tiny"]], "stop_within": 0.01, "min_rounds": 6},
            "min_rounds 6 is over rounds 5",
        ),
        ({"presets": [["adm-tiny", "dit-tiny"]]}, "dit-tiny has no timed cell"),
        ({"presets": {"tpu": [["adm-tiny", "rin-tiny"]]}}, "unknown devices"),
        ({"presets": [["adm-tiny", "adm-tiny"]]}, "pairs a preset with itself"),
        ({"presets": ["adm-tiny"]}, "list of [first, second] preset slugs"),
        ({"presets": [["adm-tiny", "rin-tiny"]], "repeat": 2}, "unknown key 'repeat'"),
        ({"presets": []}, "presets is empty"),
        ({"presets": [["adm-tinyy", "rin-tiny"]]}, "unknown preset 'adm-tinyy'; known: "),
        ({"presets": [["adm-*", "rin-tiny"]]}, "unknown preset 'adm-*'"),
    ]
    for spec, message in bad:
        with pytest.raises(suites.SuiteError, match=re.escape(message)):
            suite_with(spec)
    with pytest.raises(suites.SuiteError, match="max_batch is not searched in a pair's rounds"):
        suite_with({"presets": [["adm-tiny", "rin-tiny"]]}, settings={"max_batch": True})
    # A cell without its twin is timed alone; presets without any twin cannot be a pair.
    grids = [
        {"presets": ["adm-tiny"], "resolutions": [32], "batches": [1, 2], "phases": ["forward"]},
        {"presets": ["rin-tiny"], "resolutions": [32], "phases": ["forward"]},
    ]
    suite = suites.parse(
        {"grid": grids, "pairs": {"presets": [["adm-tiny", "rin-tiny"]]}}, name="s"
    )
    assert [pair.first.cell.batch for pair in suite.pairs] == [1]
    grids[0]["batches"] = [2]
    with pytest.raises(suites.SuiteError, match="no cell of adm-tiny has its twin"):
        suites.parse({"grid": grids, "pairs": {"presets": [["adm-tiny", "rin-tiny"]]}}, name="s")


def test_selecting_one_side_of_a_pair_takes_its_partner_along(tmp_path):
    plan = runner.plan(pair_suite(), tmp_path, only=["adm-tiny.*"])
    assert {item.cell.preset for item in plan.todo} == {"adm-tiny", "rin-tiny"}
    # A cell timed alone before the pair keeps its profile right after it, the partner added.
    table = {
        "presets": ["dit-tiny", "adm-tiny", "rin-tiny"],
        "resolutions": [32],
        "phases": ["forward"],
        "settings": {"profile": True},
        "pairs": {"presets": [["adm-tiny", "rin-tiny"]]},
    }
    suite = suites.parse(table, name="pairs")
    plan = runner.plan(suite, tmp_path, only=["dit-tiny.*", "adm-tiny.*"])
    assert [(item.cell.preset, item.cell.phase) for item in plan.todo] == [
        ("dit-tiny", "forward"),
        ("dit-tiny", "profile:forward"),
        ("adm-tiny", "forward"),
        ("adm-tiny", "profile:forward"),
        ("rin-tiny", "forward"),
    ]


def test_the_built_in_claims_suite_pairs_every_timed_cell():
    for device in ("cpu", "cuda"):
        suite = suites.load("claims", device=device)
        timed = [cell for cell in suite.cells if cell.phase in suites.PAIRED_PHASES]
        paired_cells = {cell for pair in suite.pairs for cell in pair.cells}
        assert set(timed) == paired_cells


def test_claims_judge_a_paired_factor_by_its_interval(fake, tmp_path):
    """A factor of 3 against a claim that needs at least 2.77 x 0.9: holds; the same records against
    a claim of 4: fails; and two records timed apart: inconclusive, with the factor as measured."""
    fake({"adm-tiny.*": {"ms": 30.0}, "rin-tiny.*": {"ms": 10.0}})
    plan = runner.plan(pair_suite(rounds=3), tmp_path)
    execute(plan)
    records = results.read(plan.path)

    def verdict(reported, pool=records):
        claim = claims.Claim(
            id="c",
            kind="ratio",
            reported=reported,
            source="test",
            compare="at_least",
            tolerance=0.1,
            pairs=(("adm-tiny", 32, "rin-tiny", 32),),
        )
        (clock,) = [v for v in claims.evaluate([claim], pool) if v.basis.startswith("wall")]
        return clock

    holds = verdict(2.77)
    assert holds.status == claims.HOLDS and holds.interval.n == 3
    assert "95% interval over 3 interleaved rounds" in holds.detail
    assert verdict(4.0).status == claims.FAILS
    apart = [
        r.__class__(**{**r.__dict__, "details": {}}) if r.cell.phase == "forward" else r
        for r in records
    ]
    timed_apart = verdict(2.77, apart)
    assert timed_apart.status == claims.INCONCLUSIVE
    assert (
        "timed apart, not interleaved, so no interval the verdict can rest on" in timed_apart.phrase
    )


def test_a_bad_pairs_table_is_one_line_and_exit_2(tmp_path, capsys):
    from bench import cli

    suite = tmp_path / "bad.toml"
    suite.write_text(
        'presets = ["adm-tiny", "rin-tiny"]\nresolutions = [32]\nphases = ["forward"]\n'
        '[pairs]\npresets = [["adm-tiny", "rin-tiny"]]\nrounds = 0\n'
    )
    assert cli.main(["run", str(suite), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "rounds must be an integer >= 1, got 0" in err and err.count("\n") == 1
