"""Charts as static matplotlib figures, saved for papers (PNG 300 dpi, SVG, PDF)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ftprobe.report.charts import PALETTE, Chart

FORMATS = ("png", "svg", "pdf")
MAX_POINT_NAMES = 60  # beyond this, names in print would be a blot; the page names every point on hover


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def to_matplotlib(chart: Chart):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    n = len(chart.panels)
    n_cats = max((len({x for t in p.traces for x in t.x}) for p in chart.panels if p.x_categorical), default=0)
    # many categories (labels): wide enough for upright names, a fifth of an inch each
    fig = Figure(figsize=(max(6.4, 4.6 * n, 0.2 * n_cats * n + 1.5), 4.6 if n_cats > 20 else 4.2), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, panel in zip(axes, chart.panels, strict=True):
        cats: list = []
        if panel.x_categorical:
            for t in panel.traces:
                cats += [x for x in t.x if x not in cats]
        bars = [t for t in panel.traces if t.kind == "bar"]
        width = 0.8 / max(1, len(bars))
        for i, t in enumerate(panel.traces):
            color = t.color or PALETTE[i % len(PALETTE)]
            y = _arr(t.y)
            err = None
            if t.error:
                err = _arr(t.error) if t.error_minus is None else np.vstack([_arr(t.error_minus), _arr(t.error)])
            x = np.array([cats.index(v) for v in t.x], dtype=float) if panel.x_categorical else _arr(t.x)
            if t.kind == "bar":
                j = bars.index(t)
                ax.bar(x + (j - (len(bars) - 1) / 2) * width, y, width, yerr=err, color=color, label=t.name,
                       capsize=3, ecolor="#333")
            elif t.kind == "line":
                ax.errorbar(x, y, yerr=err, color=color, marker="o", ms=4, lw=1.6, capsize=2,
                            ls="--" if t.dash else "-", label=t.name if t.show_legend else None)
            else:
                ax.scatter(x, y, s=22, color=color, label=t.name if t.show_legend else None)
            if t.marker_text and len(t.marker_text) <= MAX_POINT_NAMES:
                size = 8 if len(t.marker_text) <= 25 else 5.5
                for xi, yi, s in zip(x, y, t.marker_text, strict=True):
                    if np.isfinite(xi) and np.isfinite(yi) and s:
                        ax.annotate(s, (xi, yi), fontsize=size, xytext=(2, 2), textcoords="offset points")
        if panel.x_categorical:
            many = len(cats) > 20
            ax.set_xticks(range(len(cats)), [str(c) for c in cats], fontsize=7 if many else 9,
                          rotation=90 if many else 30 if len(cats) > 4 else 0,
                          ha="center" if many or len(cats) <= 4 else "right")
        if panel.hline is not None:
            ax.axhline(panel.hline, color="#444", lw=0.8)
        if panel.y_range:
            ax.set_ylim(*panel.y_range)
        if panel.equal_axes:
            ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel(panel.x_title, fontsize=10)
        ax.set_ylabel(panel.y_title, fontsize=10)
        ax.tick_params(labelsize=9)
        ax.set_title(panel.title if n > 1 else "", fontsize=10)
        handles, labels = ax.get_legend_handles_labels()
        if handles and len(handles) <= 12:
            ax.legend(fontsize=8, framealpha=0.85)
    fig.suptitle(chart.title, fontsize=12)
    return fig


def save_static(chart: Chart, folder: Path) -> dict[str, Path]:
    """Write ``folder/<id>.{png,svg,pdf}``, each under a temporary name renamed when complete."""
    folder.mkdir(parents=True, exist_ok=True)
    fig = to_matplotlib(chart)
    paths = {}
    for fmt in FORMATS:
        final = folder / f"{chart.id}.{fmt}"
        fd, tmp = tempfile.mkstemp(prefix=f".{chart.id}.", suffix=f".{fmt}", dir=folder)
        os.close(fd)
        try:
            # fixed metadata: the same results give byte-identical SVG/PDF
            meta = {"Date": None} if fmt == "svg" else {"CreationDate": None} if fmt == "pdf" else {}
            fig.savefig(tmp, format=fmt, dpi=300, metadata=meta)
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        paths[fmt] = final
    return paths
