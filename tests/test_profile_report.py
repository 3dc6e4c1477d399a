"""reports.profile: the "Where the time goes" section, its figure and the summary `rinbench profile`
prints, from profile records (made up here; tests/test_profile.py measures real ones)."""

from test_profile_cli import profile_record, profile_values

from reports.profile import NO_PROFILES, group_rows, section, summary_text


def test_group_rows_put_groups_by_mac_share_then_the_parts_outside():
    rows = group_rows(profile_record())
    assert [row["group"] for row in rows] == ["compute", "read", "write", "outside the model"]
    assert rows[-1]["mac_share"] is None and rows[0]["time_share"] == 0.3


def test_the_summary_shows_the_split_the_operators_and_the_slowdown():
    text = summary_text(profile_record())
    assert "1.05×" in text and "unprofiled 10.0 ms" in text
    lines = text.splitlines()
    compute = next(line for line in lines if line.startswith("compute"))
    assert "30.0%" in compute and "50.0%" in compute and "200" in compute  # GFLOP/s
    assert "aten::addmm" in text and "Device idle gaps: none listed" in text


def test_the_section_renders_tables_and_the_figure():
    timed = profile_record(phase="forward", values={"latency_ms_median": 9.0})
    built = section([timed, profile_record(), profile_record(preset="rin-in64")])
    assert [cell.record.cell.preset for cell in built.cells] == ["rin-in64", "rin-tiny"]
    assert built.figure.png and not built.figure.skipped
    markdown = built.markdown()
    assert markdown.startswith("## Where the time goes")
    assert "| compute | 3 | 30.0% | 50.0% | 200 | 2.0% |" in markdown
    html = built.html()
    assert 'id="profile"' in html and "fig-time_vs_macs" in html and "aten::addmm" in html


def test_a_compiled_profile_says_why_it_has_no_split_and_the_figure_skips():
    values = {k: v for k, v in profile_values().items() if not k.endswith("_by_group")}
    record = profile_record(values=values)
    record.details["time_ms_by_group_reason"] = "torch.compile fuses operators"
    built = section([record])
    assert built.figure.skipped and "torch.compile fuses" in built.markdown()
    assert "No time per group: torch.compile fuses" in summary_text(record)


def test_without_profile_records_the_section_says_how_to_make_them():
    assert NO_PROFILES in section([profile_record(phase="forward")]).markdown()
    assert NO_PROFILES in section([]).html()


def test_a_wall_clock_verdict_cites_the_group_whose_time_outgrows_its_macs():
    from bench.profile.cite import profile_for, sentence, widest_gap

    timed = profile_record(phase="forward", values={"images_per_s": 10.0})
    other_machine = profile_record()
    other_machine.env["cpu_model"] = "Another CPU"
    profiled = profile_record()
    chosen = profile_for([profiled, other_machine, timed], timed)
    assert chosen is profiled
    assert profile_for([timed], timed) is None
    assert widest_gap(profiled) == ("write", 0.4, 0.25)  # 40% of the time for 25% of the MACs
    text = sentence("rin-tiny", 9.1, 5.9, profiled)
    assert text.startswith("rin-tiny is 9.1× cheaper in MACs but 5.9× faster; its write group")
    assert "takes 40% of the time for 25% of the MACs (profiled forward, cpu fp32 b2 eager)" in text
    no_split = profile_record(values={"traced_step_ms": 1.0})
    assert sentence("rin-tiny", 9.1, 5.9, no_split) == ""
