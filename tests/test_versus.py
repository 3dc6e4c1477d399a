"""bench.versus and reports.peers: ours beside a peer (or any two presets), from records; the report's
section "Against the public implementations" and `rinbench claims --versus A B`."""

import csv
import io
import json

import pytest
from test_claims import EPYC, paired, record

from bench import versus
from bench.cli import main
from reports import md, peers
from reports.report import compose

OURS, PEER = "dit-tiny", "diffusers-dit-tiny"


def timed(preset, speed, **values):
    return record(
        f"{preset}.r32.b1.fp32.forward.eager.cpu",
        cpu=EPYC,
        images_per_s=speed,
        torch_threads=2,
        peak_rss_bytes=2**30,
        **values,
    )


def counted(preset, params, macs):
    return [
        record(f"{preset}.r32.b1.fp32.params.eager.cpu", params=params),
        record(f"{preset}.r32.b1.fp32.flops.eager.cpu", macs_fwd=macs),
    ]


def records(ours_speed=30.0, peer_speed=20.0):
    return [
        *counted(OURS, 1000, 5e9),
        *counted(PEER, 900, 4e9),
        *paired(timed(PEER, peer_speed), timed(OURS, ours_speed)),
    ]


def test_ours_beside_the_peer_its_preset_is_configured_to_match():
    found = records()
    assert versus.peer_pairs(found) == [(OURS, PEER, 32)]
    result = versus.side_by_side(found, versus.peer_pairs(found))
    (count,) = result.counts
    assert count.params == (1000, 900) and count.macs_fwd == (5e9, 4e9)
    (row,) = result.timed
    assert row.phase == "forward" and row.images_per_s == (30.0, 20.0)
    # ours / peer in speed, with the interval of the interleaved rounds
    assert row.factor.estimate == pytest.approx(1.5, rel=1e-3) and row.factor.n == 3
    assert row.factor.low < 1.5 < row.factor.high
    assert row.setup == "AMD EPYC 7B13 (2 CPUs, 2 threads, fp32, b1, eager)"


def test_without_a_flops_record_the_macs_come_from_a_timed_cell():
    found = [timed(OURS, 30.0, macs_fwd=5e9), timed(PEER, 20.0, macs_fwd=4e9)]
    (count,) = versus.side_by_side(found, [(OURS, PEER, 32)]).counts
    assert count.macs_fwd == (5e9, 4e9)


def test_timed_apart_the_factor_has_no_interval_and_a_failed_side_no_factor():
    apart = [timed(OURS, 30.0), timed(PEER, 10.0)]
    (row,) = versus.side_by_side(apart, [(OURS, PEER, 32)]).timed
    assert row.factor.estimate == pytest.approx(3.0) and not row.factor.available
    assert peers.factor_text(row) == "3.00× (no interval: timed apart, not interleaved)"
    failed = [timed(OURS, 30.0), record(f"{PEER}.r32.b1.fp32.forward.eager.cpu",
                                        status="unsupported", cpu=EPYC)]  # fmt: skip
    (row,) = versus.side_by_side(failed, [(OURS, PEER, 32)]).timed
    assert row.factor is None and peers.factor_text(row).startswith(f"{PEER} unsupported")


def test_each_side_shows_its_mfu_and_a_suspect_one_is_marked(tmp_path, capsys):
    sides = paired(
        timed(PEER, 20.0, mfu=1.2, mfu_suspect=1), timed(OURS, 30.0, mfu=0.4, mfu_suspect=0)
    )
    found = [*counted(OURS, 1000, 5e9), *counted(PEER, 900, 4e9), *sides]
    (row,) = versus.side_by_side(found, [(OURS, PEER, 32)]).timed
    assert peers.mfu_texts(row) == ("40.0%", "120.0%?")
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in found))
    assert main(["claims", str(path), "--versus", OURS, PEER]) == 0
    assert "; MFU 40.0% vs 120.0%?" in capsys.readouterr().out
    assert main(["claims", str(path), "--versus", OURS, PEER, "--format", "markdown"]) == 0
    assert peers.MFU_LEGEND in capsys.readouterr().out


def test_the_report_has_the_section_only_where_a_peer_was_measured():
    report = compose(records(), claims=None, with_figures=False)
    page = md.page(report)
    assert "## Against the public implementations" in page
    assert "| dit-tiny | diffusers-dit-tiny | 32 | 1,000 | 900 | +100 |" in page
    assert "1.50× [" in page
    alone = compose(records()[:2], claims=None, with_figures=False)
    assert "Against the public implementations" not in md.page(alone)


def test_claims_versus_any_two_families_or_presets(tmp_path, capsys):
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in records()))
    assert main(["claims", str(path), "--versus", "dit", PEER]) == 0
    text = capsys.readouterr().out
    assert text.startswith("dit-tiny vs diffusers-dit-tiny at 32 px: params 1,000 vs 900;")
    assert "dit-tiny / diffusers-dit-tiny 1.50× [" in text
    assert main(["claims", str(path), "--versus", OURS, PEER, "--format", "csv"]) == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert row["params_difference"] == "100" and float(row["speed_factor"]) == pytest.approx(
        1.5, rel=1e-3
    )
    assert row["rounds"] == "3" and row["setup"].startswith("AMD EPYC 7B13")
    assert main(["claims", str(path), "--versus", OURS, PEER, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["first"] == OURS
    assert main(["claims", str(path), "--versus", "rin", PEER]) == 2
    assert capsys.readouterr().err.strip() == (
        "rinbench: error: no records of 'rin' (a family or a preset); these results hold the "
        "families diffusers, dit (`rinbench report` on them lists their presets)"
    )


def test_versus_keeps_the_interleaved_pair_names_a_missing_peer_and_refuses_a_name_twice():
    from dataclasses import replace

    from bench.record import RunInfo

    found = records()
    # A later run timed ours again, apart: the pair's rounds stay the evidence.
    later = replace(timed(OURS, 60.0), run=RunInfo("run-b", "s", "2099-01-01T00:00:00Z"))
    (row,) = versus.side_by_side([*found, later], versus.peer_pairs(found)).timed
    assert row.factor.available and row.factor.estimate == pytest.approx(1.5, rel=1e-3)
    # A peer whose package was missing left records without a model block: its family is found.
    missing = replace(
        timed(PEER, 20.0), status="unsupported", error="pip install diffusers", model=None
    )
    pairs = versus.named_pairs(
        [*counted(OURS, 1000, 5e9), timed(OURS, 30.0), missing], "dit", "diffusers-dit"
    )
    assert pairs == [(OURS, PEER, 32)]
    with pytest.raises(versus.UnknownName, match="hold the families diffusers-dit, dit "):
        versus.named_pairs([timed(OURS, 30.0), missing], "dit", "vdm")
    with pytest.raises(versus.UnknownName, match="'dit' is named twice"):
        versus.named_pairs(found, "dit", "dit")
