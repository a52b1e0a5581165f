"""The authors' notes in the report: a Markdown file of diagnoses and caveats (a study's
``[report] notes``), shown in the page and in summary.md under the section "Notes and diagnoses".

The numbers of a report are computed; why a finding fails usually is not (it takes a look at the
data, another run, a second model). The notes are where that reading lives, beside the numbers it
reads. They are Markdown (CommonMark with tables): raw HTML is shown as text, never run, and links
other than http(s), mailto and relative ones are not made links (markdown-it's own checks). Their
headings sit under the section's heading: a ``#`` in the notes is a third-level heading.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StudyNotes", "notes_html", "notes_markdown"]

TOP_LEVEL = 3  # the notes' "#" becomes this heading level (the section itself is an h2)


@dataclass(frozen=True)
class StudyNotes:
    """The notes a study's report shows: the file they came from (its name, for the reader) and
    its Markdown text."""

    file: str
    markdown: str

    def to_json(self) -> dict:
        return {"file": self.file, "markdown": self.markdown}

    @classmethod
    def read(cls, d) -> StudyNotes | None:
        if not d:
            return None
        return cls(str(d.get("file", "")), str(d["markdown"]))


def _parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _level(tag: str, top: int) -> int:
    return min(6, int(tag[1:]) + top - 1)


def notes_html(markdown: str, top: int = TOP_LEVEL) -> str:
    """The notes as HTML, headings moved down so that ``#`` is ``<h{top}>``; raw HTML escaped."""
    md = _parser()
    tokens = md.parse(markdown)
    for t in tokens:
        if t.type in ("heading_open", "heading_close"):
            t.tag = f"h{_level(t.tag, top)}"
    return md.renderer.render(tokens, md.options, {})


def notes_markdown(markdown: str, top: int = TOP_LEVEL) -> str:
    """The notes as Markdown for summary.md, with the same heading levels as :func:`notes_html`
    (ATX headings get more ``#``; an underlined heading becomes an ATX one). Everything else,
    code blocks included, is left as written."""
    lines = markdown.splitlines()
    tokens = _parser().parse(markdown)
    edits = []  # (first line, end line, new lines), applied from the last up
    for i, t in enumerate(tokens):
        if t.type != "heading_open" or not t.map:
            continue
        start, end = t.map
        hashes = "#" * _level(t.tag, top)
        if t.markup.startswith("#"):
            text = lines[start].lstrip(" ")
            edits.append((start, start + 1, [hashes + text[len(t.markup):]]))
        else:  # setext: the text lines, then the "===" / "---" line
            edits.append((start, end, [hashes + " " + " ".join(tokens[i + 1].content.split())]))
    for start, end, new in sorted(edits, reverse=True):
        lines[start:end] = new
    return "\n".join(lines)
