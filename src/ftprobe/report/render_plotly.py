"""Charts as interactive Plotly figures: hover names every point, legends toggle series, zoom."""

from __future__ import annotations

import math

from ftprobe.report.charts import PALETTE, Chart


def _clean(values) -> list:
    return [None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v for v in values]


def to_plotly(chart: Chart):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = len(chart.panels)
    fig = make_subplots(rows=1, cols=n, subplot_titles=[p.title for p in chart.panels] if n > 1 else None,
                        horizontal_spacing=0.1 if n > 1 else 0.02)
    seen: set[str] = set()
    for col, panel in enumerate(chart.panels, 1):
        for i, t in enumerate(panel.traces):
            color = t.color or PALETTE[i % len(PALETTE)]
            # one legend entry per series name: toggling it hides that series in every panel
            show = t.show_legend and t.name not in seen
            seen.add(t.name)
            common = {"name": t.name, "legendgroup": t.name, "showlegend": show,
                      "hovertext": list(t.hover) if t.hover else None,
                      "hoverinfo": "text" if t.hover else "x+y+name"}
            err = None
            if t.error:
                err = {"type": "data", "array": _clean(t.error), "visible": True, "symmetric": t.error_minus is None}
                if t.error_minus:
                    err["arrayminus"] = _clean(t.error_minus)
            if t.kind == "bar":
                tr = go.Bar(x=list(t.x), y=_clean(t.y), error_y=err, marker_color=color, **common)
            else:
                mode = "lines+markers" if t.kind == "line" else "markers"
                if t.marker_text and len(t.marker_text) <= 20:  # more would overlap: hover names them
                    mode += "+text"
                tr = go.Scatter(x=list(t.x), y=_clean(t.y), mode=mode, error_y=err,
                                text=list(t.marker_text) if t.marker_text else None,
                                textposition="top center", textfont={"size": 11},
                                marker={"color": color, "size": 8 if t.kind == "scatter" else 6},
                                line={"color": color, "dash": "dash" if t.dash else "solid", "width": 2},
                                connectgaps=False, **common)
            fig.add_trace(tr, row=1, col=col)
        fig.update_xaxes(title_text=panel.x_title, row=1, col=col,
                         type="category" if panel.x_categorical else None)
        fig.update_yaxes(title_text=panel.y_title, row=1, col=col,
                         range=list(panel.y_range) if panel.y_range else None)
        if panel.equal_axes:
            fig.update_yaxes(scaleanchor=f"x{col if col > 1 else ''}", scaleratio=1, row=1, col=col)
        if panel.hline is not None:
            fig.add_hline(y=panel.hline, line_width=1, line_color="#444", row=1, col=col)
    fig.update_layout(title={"text": chart.title, "font": {"size": 16}}, height=chart.height,
                      barmode="group", template="plotly_white", font={"size": 13},
                      margin={"l": 60, "r": 20, "t": 60, "b": 60}, hoverlabel={"font_size": 13},
                      legend={"itemclick": "toggle", "itemdoubleclick": "toggleothers"})
    return fig


def to_html_div(chart: Chart, include_js: bool) -> str:
    """The figure as an HTML fragment; ``include_js`` embeds plotly.js inline (once per page)."""
    fig = to_plotly(chart)
    return fig.to_html(full_html=False, include_plotlyjs=True if include_js else False, div_id=f"plot-{chart.id}",
                       config={"displaylogo": False, "responsive": True,
                               "toImageButtonOptions": {"format": "png", "scale": 3}})
