"""``merauto predict --video V --timeline FILE.html``: the spotting signals over time with the
spotted intervals shaded, and each interval's apex frame (with its label when recognised)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import cv2
import numpy as np
import plotly.graph_objects as go

from merauto.atomic import write_text_atomic
from merauto.evaluator.spotting import Spotted, VideoSignal

COLOURS = {"micro": "#d62728", "macro": "#1f77b4"}


def timeline_figure(signal: VideoSignal, spotted: list[Spotted], first: int, thresholds: dict[str, float], step: int = 1) -> go.Figure:
    """Each scale's signal against frame numbers (a value every ``step`` frames), its detection height dashed, spotted intervals shaded."""
    figure = go.Figure()
    for kind, values in signal.signals.items():
        frames = np.arange(len(values)) * step + first
        figure.add_trace(go.Scatter(x=frames, y=values, name=f"{kind} scale", line={"color": COLOURS[kind], "width": 1}))
        height = float(values.mean() + thresholds[kind] * (values.max() - values.mean()))
        figure.add_hline(y=height, line={"color": COLOURS[kind], "dash": "dash", "width": 1})
    for s in spotted:
        figure.add_vrect(
            x0=first + s.interval.start, x1=first + s.interval.end, fillcolor=COLOURS[s.interval.kind], opacity=0.15, line_width=0
        )
    axis = "signal (flow px, or the network's probability)"
    figure.update_layout(title="spotting signals and spotted intervals", xaxis_title="frame", yaxis_title=axis, height=380)
    return figure


def _thumbnail(frame: np.ndarray) -> str:
    ok, png = cv2.imencode(".png", cv2.resize(frame, (96, 96 * frame.shape[0] // frame.shape[1])))
    return base64.b64encode(png.tobytes()).decode() if ok else ""


def write_timeline(
    path: Path, video: Path, frames: np.ndarray, first: int, spotted: list[Spotted], signal: VideoSignal, thresholds: dict[str, float],
    labels: dict[int, tuple[str, list[float]]], step: int = 1,
) -> Path:  # fmt: skip
    """Write the timeline page (self-contained: plotly.js and the apex frames inlined), atomically."""
    cells = []
    for k, s in enumerate(spotted):
        label = labels.get(k, ("", []))[0]
        caption = f"{s.interval.kind} {first + s.interval.start}-{first + s.interval.end}, apex {first + s.apex}" + (
            f": {label}" if label else ""
        )
        image = _thumbnail(frames[s.apex])
        cells.append(
            f'<figure><img src="data:image/png;base64,{image}" alt="apex"><figcaption>{html.escape(caption)}</figcaption></figure>'
        )
    chart = timeline_figure(signal, spotted, first, thresholds, step).to_html(full_html=False, include_plotlyjs=True)
    document = f"""<!doctype html><html><head><meta charset="utf-8"><title>merauto spotting: {html.escape(str(video))}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} figure{{display:inline-block;margin:.4em;text-align:center;font-size:12px}}</style>
</head><body><h1>Spotted in {html.escape(str(video))}</h1><p>{len(spotted)} intervals in {len(frames)} frames.</p>
{chart}<h2>Apex frames</h2>{"".join(cells)}</body></html>"""
    return write_text_atomic(Path(path), document, "the timeline")
