"""The authors' notes in the report: Markdown rendered safely, headings under the section's own."""

from __future__ import annotations

import json

import pytest

from ftprobe.errors import UserError
from ftprobe.report import rebuild_report, write_report
from ftprobe.report.notes import notes_html, notes_markdown
from ftprobe.study import parse_config, validate_config

from .test_report import _results

NOTES = """# Finding 4

Some *text* <script>alert(1)</script> and [a bad link](javascript:alert(1)), [a good one](fractions/README.md).

## At layer 6

| layer | before | after |
|---|---|---|
| 6 | 0.55 | 0.65 |

Underlined
==========

```
# a comment in code, not a heading
```
"""


def test_html_moves_headings_down_and_runs_nothing():
    page = notes_html(NOTES)
    assert "<h3>Finding 4</h3>" in page and "<h4>At layer 6</h4>" in page and "<h3>Underlined</h3>" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="javascript:' not in page and '<a href="fractions/README.md">a good one</a>' in page
    assert "<td>0.55</td>" in page  # tables are on
    assert "# a comment in code, not a heading\n</code></pre>" in page


def test_markdown_moves_the_same_headings_and_keeps_the_rest():
    text = notes_markdown(NOTES)
    lines, original = text.splitlines(), NOTES.splitlines()
    assert lines[0] == "### Finding 4" and "#### At layer 6" in lines and "### Underlined" in lines
    assert "==========" not in lines
    assert "# a comment in code, not a heading" in lines  # inside the fence: as written
    kept = [ln for ln in original if not ln.startswith("#") and ln not in ("Underlined", "==========")]
    assert [ln for ln in lines if ln in kept] == kept


def test_deep_headings_stop_at_h6():
    assert "<h6>five</h6>" in notes_html("##### five") and notes_markdown("##### five") == "###### five"


def test_report_shows_notes_and_rebuilds_them_from_results_json(tmp_path):
    results = _results()
    results["notes"] = {"file": "DIAGNOSES.md", "markdown": NOTES}
    files = write_report(results, tmp_path)
    page = files.html.read_text()
    assert "id='notes'" in page and "From DIAGNOSES.md." in page and "<h4>At layer 6</h4>" in page
    assert page.index("id='finding-6'") < page.index("id='notes'")  # right after the verdicts it explains
    md = files.md.read_text()
    assert "## Notes and diagnoses" in md and "### Finding 4" in md
    files.html.unlink()
    rebuilt = rebuild_report(tmp_path, figure_files=False)
    assert "<h4>At layer 6</h4>" in rebuilt.html.read_text()
    assert json.loads(files.json.read_text())["notes"]["file"] == "DIAGNOSES.md"


def test_a_report_without_notes_has_no_notes_section(tmp_path):
    files = write_report(_results(), tmp_path, figure_files=False)
    assert "id='notes'" not in files.html.read_text() and "Notes and diagnoses" not in files.md.read_text()


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "is a directory, expected a file"),
    (lambda p: p.write_bytes(b"ok\n\xff\xfe"), "not valid utf-8 text (invalid start byte)"),
])
def test_bad_notes_file_is_one_line_naming_the_setting(tmp_path, tiny_bert, make, message):
    notes = tmp_path / "notes.md"
    make(notes)
    cfg = parse_config({"output": str(tmp_path / "out"), "models": [{"name": "tiny", "path": str(tiny_bert)}],
                        "tasks": [{"name": "pos", "data": "sample:ewt", "max_sentences": 5}],
                        "report": {"notes": str(notes)}}, "test")
    with pytest.raises(UserError) as info:
        validate_config(cfg)
    assert str(info.value) == f"report.notes: {notes}: {message}"
