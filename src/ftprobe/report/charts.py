"""One neutral description of a figure, drawn two ways from the same numbers: interactive
(Plotly, embedded in the HTML page) and static (matplotlib: PNG 300 dpi, SVG and PDF for papers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PALETTE = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB", "#000000")
BEFORE, AFTER = "#8c8c8c", "#228833"


@dataclass(frozen=True)
class Trace:
    """One series. ``hover`` names each point (shown on hover; every point gets one)."""

    name: str
    x: tuple
    y: tuple
    kind: Literal["line", "bar", "scatter"] = "line"
    error: tuple | None = None  # error bar above each point (and below, unless error_minus)
    error_minus: tuple | None = None  # error bar below each point, where not symmetric
    hover: tuple[str, ...] | None = None
    color: str | None = None
    dash: bool = False
    show_legend: bool = True
    marker_text: tuple[str, ...] | None = None  # text drawn next to points (static and interactive)


@dataclass(frozen=True)
class Panel:
    title: str
    traces: tuple[Trace, ...]
    x_title: str = ""
    y_title: str = ""
    y_range: tuple[float, float] | None = None
    x_categorical: bool = False
    hline: float | None = None  # a reference line (e.g. zero)
    equal_axes: bool = False


@dataclass(frozen=True)
class Chart:
    """A figure: panels side by side, an anchor id, a title and a one-line caption."""

    id: str
    title: str
    caption: str
    panels: tuple[Panel, ...]
    height: int = 380
    notes: tuple[str, ...] = field(default_factory=tuple)

    def figure(self):
        """The interactive figure (a ``plotly.graph_objects.Figure``)."""
        from ftprobe.report.render_plotly import to_plotly

        return to_plotly(self)

    def matplotlib(self):
        """The static figure (a ``matplotlib.figure.Figure``)."""
        from ftprobe.report.render_static import to_matplotlib

        return to_matplotlib(self)
