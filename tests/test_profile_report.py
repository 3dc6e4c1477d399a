"""reports.where_time_goes: the "Where the time goes" section, its figure and the summary
`rinbench profile` prints, from profile records (made up here; tests/test_profile.py measures real
ones)."""

from test_profile_cli import profile_record, profile_values

from reports.where_time_goes import NO_PROFILES, group_rows, headline, section, summary_text


def test_group_rows_put_groups_by_mac_share_then_the_parts_outside():
    rows = group_rows(profile_record())
    assert [row["group"] for row in rows] == ["compute", "read", "write", "outside the model"]
    assert rows[-1]["mac_share"] is None and rows[0]["time_share"] == 0.3


def test_the_summary_shows_the_split_the_operators_and_the_slowdown():
    text = summary_text(profile_record())
    assert "1.05×" in text and "against 10 ms unprofiled" in text
    lines = text.splitlines()
    compute = next(line for line in lines if line.startswith("compute"))
    assert "30.0%" in compute and "50.0%" in compute and "200" in compute  # GFLOP/s
    assert "aten::addmm" in text and "Device idle gaps: none listed" in text


def test_the_headline_names_the_trace_step_and_the_medians_the_slow_down_divides():
    # The trace's mean step and the profiled steps' wall-clock median differ (10 and 10.5 ms
    # here); the slow-down is the median's over the unprofiled median, so both are printed.
    assert headline(profile_record()) == (
        "rin-tiny @16 px, forward, cpu fp32 b2 eager: 10 ms per step in the trace over 3 profiled "
        "steps (their span, split below by cpu op self time; their median 10.5 ms against 10 ms "
        "unprofiled: the profiler slowed the step 1.05×)."
    )


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
    from bench.profiling.cite import profile_for, sentence, widest_gap

    timed = profile_record(phase="forward", values={"images_per_s": 10.0})
    other_machine = profile_record()
    other_machine.env["cpu_model"] = "Another CPU"
    profiled = profile_record()
    machine = "CPU Test CPU (2 cpus)"
    chosen = profile_for([profiled, other_machine, timed], "rin-tiny", 16, "forward", machine)
    assert chosen is profiled
    assert profile_for([timed], "rin-tiny", 16, "forward", machine) is None
    assert profile_for([profiled], "rin-tiny", 16, "train_step", machine) is None
    assert widest_gap(profiled) == ("write", 0.4, 0.25)  # 40% of the time for 25% of the MACs
    text = sentence("rin-tiny", 9.1, 5.9, profiled)
    assert text.startswith("rin-tiny is 9.1× cheaper in MACs but 5.9× faster; its write group")
    assert "takes 40% of the time for 25% of the MACs (profiled forward, cpu fp32 b2 eager)" in text
    no_split = profile_record(values={"traced_step_ms": 1.0})
    assert sentence("rin-tiny", 9.1, 5.9, no_split) == ""
    assert "rin-tiny is 0.8× as fast; its write group" in sentence("rin-tiny", None, 0.8, profiled)


def test_the_report_has_the_section_and_keeps_profiles_out_of_its_tables(tmp_path):
    import reports

    timed = profile_record(phase="forward", values={"images_per_s": 10.0})
    only_profiled = profile_record(preset="rin-in64")
    report = reports.compose([timed, profile_record(), only_profiled], title="t")
    assert [row[0] for row in report.table.rows] == ["rin-tiny"]  # no row for rin-in64
    assert not report.table.notes
    assert set(report.frame["phase"]) == {"forward"}
    assert len(report.profile.cells) == 2
    page = reports.md.page(report)
    assert "## Where the time goes" in page and "figures/time_vs_macs.png" in page
    written = reports.write(report, tmp_path)
    assert tmp_path / "figures" / "time_vs_macs.png" in written


def test_rinbench_claims_cites_the_profile_beside_a_wall_clock_verdict():
    import dataclasses

    from test_claims import CPU_BASIS, EPYC, RATIO, counted, cpu_timed, parse, verdicts_by_basis

    from bench.cell import Cell

    profiled = dataclasses.replace(
        profile_record(preset="rin-m"),
        cell=Cell("rin-m", 64, 1, phase="profile:forward"),
        env={"device": "cpu", "cpu_model": EPYC[0], "cpu_count": EPYC[1]},
    )
    clock = verdicts_by_basis(parse(RATIO), [*counted(), *cpu_timed(), profiled])[
        ("tenfold", CPU_BASIS)
    ]
    assert clock.detail.startswith("rin-m 60 img/s / base-m 10 img/s; ")
    assert "rin-m is 20× cheaper in MACs but 6× faster; its write group takes 40% of the time" in (
        clock.detail
    )
    # Without a profile of the faster side on that machine, the verdict is as it was.
    elsewhere = dataclasses.replace(profiled, env={"cpu_model": "Another CPU", "cpu_count": 2})
    plain = verdicts_by_basis(parse(RATIO), [*counted(), *cpu_timed(), elsewhere])
    assert plain[("tenfold", CPU_BASIS)].detail == (
        "rin-m 60 img/s / base-m 10 img/s; no interval: timed apart, not interleaved"
    )


def test_rinbench_report_counts_the_profile_figure(tmp_path, capsys):
    from bench import cli, results

    path = tmp_path / "profiles.jsonl"
    with results.Writer(path) as writer:
        writer.append(profile_record())
    assert cli.main(["report", str(path), "--out", str(tmp_path / "report")]) == 0
    assert "(1 figure)" in capsys.readouterr().err
    assert (tmp_path / "report" / "figures" / "time_vs_macs.png").is_file()


def test_optimizer_annotations_are_no_kernels_and_kernel_names_stay_text_in_markdown():
    # torch's 'Optimizer.step#AdamW.step' span (on CUDA a GPU-side span over the optimizer's
    # kernels) was listed as a kernel in the H200's profile; a kernel's 'add<float>' is no tag.
    from reports.where_time_goes import ops_table

    kernels = {
        "Optimizer.step#AdamW.step": {"self_ms": 16.1, "calls": 1, "share": 0.076},
        "void CUDAFunctor_add<float>": {"self_ms": 3.0, "calls": 9, "share": 0.01},
    }
    table = ops_table(
        profile_record(values=profile_values() | {"top_kernels": kernels}), key="top_kernels"
    )
    assert [row[0] for row in table.rows] == ["void CUDAFunctor_add<float>"]
    assert "CUDAFunctor_add&lt;float>" in table.markdown()
