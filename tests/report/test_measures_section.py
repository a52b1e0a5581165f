import json

from ftprobe.report.measures_section import measures_html, run_section


def _cell(v, p):
    return {"value": v, "value_all_rows": v, "null_mean": 0.0, "null_sd": 0.1, "calibrated": v / 0.1,
            "p_value": p, "interval": [v - 0.05, v + 0.05], "n_rows": 100}


def _run():
    cmp_ = {name: _cell(0.8, 0.01) for name in ("cka", "procrustes", "mutual_knn")}
    geo = {"effective_rank": 12.5, "isotropy": 0.3, "intrinsic_dimension": 7.0}
    return {
        "model": "m", "task": "pos",
        "measures": {"points": ["original", "step-1", "final"], "layers": ["1", "3"],
                     "compare": {"1": [None, cmp_, cmp_], "3": [None, cmp_, {**cmp_, "cka": _cell(0.123, 0.2)}]}},
        "similarity": {"1": {"cka": 0.8, "compare": cmp_, "geometry_before": geo,
                             "geometry_after": {**geo, "isotropy": 0.25}}},
    }


def test_heatmaps_and_table_carry_the_calibrated_numbers():
    out = run_section(_run())
    assert out.count("plotly-graph-div") == 3  # one heatmap per measure
    assert "0.123" in out  # the layer 3 / final cell's CKA, in the figure's data
    assert "p = 0.200" in out  # ...and its p-value in the hover text
    assert "0.30 -&gt; 0.25" in out  # isotropy before -> after, escaped in the table
    assert "cdn.plot.ly" not in out


def test_whole_section_inlines_plotly_once_or_is_empty():
    from plotly.offline import get_plotlyjs

    html = measures_html({"runs": [_run(), _run()]})
    assert html.count(get_plotlyjs()[:300]) == 1  # plotly.js inlined once for both runs
    assert html.count("Calibrated similarity and geometry") == 1
    assert measures_html({"runs": [{"model": "m", "task": "t", "table": []}]}) == ""
    json.dumps(_run())  # the section reads plain JSON, as results.json holds it


def test_a_comparison_that_could_not_run_shows_its_reason():
    run = _run()
    run["measures"]["compare"]["3"][2] = {"error": "X has no variance (all rows equal)"}
    run["similarity"]["1"]["compare"] = {"error": "X has 10 rows; at least 16 are needed"}
    out = run_section(run)
    assert "X has no variance" in out and out.count("plotly-graph-div") == 3


def _control(n, shuffled, margin, margin_sh):
    return {"layer": 6, "n_clusters": n, "n_clusters_shuffled": [shuffled], "margin": margin,
            "margin_shuffled": margin_sh, "cluster_ratio": n / shuffled, "distance_ratio": margin / margin_sh,
            "n_rows": 200}


def test_summary_lines_and_the_label_control():
    from ftprobe.report.measures_section import markdown_lines

    run = _run()
    run["similarity"]["1"]["compare"]["procrustes"] = {**_cell(0.25, 0.04), "null_mean": 0.9, "null_sd": 0.02,
                                                       "calibrated": 32.5}
    run["table"] = [{"layer": 6, "label_control_before": _control(17, 40, 1.5, 0.5),
                     "label_control_after": {"layer": 6, "error": "y holds one label"}},
                    {"layer": 1}]  # a layer without a control: no row
    lines = markdown_lines([run])
    text = "\n".join(lines)
    (row,) = [ln for ln in lines if ln.startswith("| m | pos | 1 |")]
    # value (null mean ± sd; calibrated sd, p) per measure, in MEASURES order
    assert row == ("| m | pos | 1 | 0.800 (null 0.000 ± 0.100; 8.0 sd, p 0.010) | 0.250 (null 0.900 ± 0.020; 32.5 sd,"
                   " p 0.040) | 0.800 (null 0.000 ± 0.100; 8.0 sd, p 0.010) |")
    (ctl,) = [ln for ln in lines if ln.startswith("| m | pos | 6 |")]
    assert "17 vs 40 clusters (ratio 0.42); margin 1.50 vs 0.50 (ratio 3.00); 200 rows" in ctl
    assert "not run: y holds one label" in ctl
    assert "Shuffled-label control" in text
    html = run_section(run)
    assert "17 vs 40 clusters (ratio 0.42)" in html and "Shuffled-label control" in html
    assert markdown_lines([{"model": "m", "task": "t", "table": []}]) == []
