"""HTML pages of figures: one offline file, plotly.js embedded once, no network requests; the report builds on the
same pieces."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from .files import GENERATOR, atomic_write_text


def figure_div(fig: go.Figure, div_id: str, with_plotlyjs: bool = False) -> str:
    """One figure as an HTML fragment; `with_plotlyjs` embeds the whole plotly.js bundle (do it once per page)."""
    return fig.to_html(
        full_html=False,
        include_plotlyjs=with_plotlyjs,
        include_mathjax=False,
        div_id=div_id,
        auto_play=False,  # an animation (a run's snapshots) starts at its first frame and plays on "play"
        config=figure_config(div_id),
    )


def figure_config(div_id: str) -> dict[str, Any]:
    """plotly.js's config for every figure we embed: the modebar's camera button saves an SVG named after the
    figure's div (drawn in the reader's browser, offline), not plotly's default PNG `newplot`."""
    return {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "svg", "filename": div_id}}


def write_html(figs: Sequence[go.Figure], path: str | Path, *, title: str) -> Path:
    """Write `figs` into one self-contained HTML page (plotly.js embedded once, no network), atomically.

    Each figure sits in `<div class="sp-figure">` around plotly's own div with id `figure-<index>`.
    """
    body = "\n".join(
        f'<div class="sp-figure">\n{figure_div(fig, f"figure-{i}", with_plotlyjs=i == 0)}\n</div>'
        for i, fig in enumerate(figs)
    )
    text = html.escape(title)
    page = (
        f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n{GENERATOR}\n"
        f"<title>{text}</title>\n"
        "<style>body{font-family:sans-serif;margin:1.5em} .sp-figure{margin:1.5em 0}</style>\n"
        f"</head>\n<body>\n<h1>{text}</h1>\n{body}\n</body>\n</html>\n"
    )
    return atomic_write_text(path, page)
