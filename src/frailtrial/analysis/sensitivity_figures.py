"""Figures of the estimands: a forest plot of the treatment effect at the endpoint visit
under the primary model and each sensitivity analysis, and a tipping-point plot (the effect
and its CI over the grid of deltas). Hand-built SVG like :mod:`.figures`, inlined in the
report and written to figures/.
"""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from frailtrial.analysis.figures import arm_colours, axis_ticks, svg_head, y_gridlines
from frailtrial.protocol import Protocol


def _span(*columns: pd.Series) -> tuple[float, float]:
    """The lowest and highest finite value of the columns, and 0 (the line of no effect)."""
    values = np.concatenate([c.to_numpy(dtype=float) for c in columns])
    values = np.append(values[np.isfinite(values)], 0.0)
    return float(values.min()), float(values.max())


def forest_svg(rows: pd.DataFrame, labels: dict[str, str], title: str, protocol: Protocol) -> str:
    """One line per row of ``rows`` (``analysis``, ``arm``, ``estimate``, ``ci_low``,
    ``ci_high``; the primary first), labelled by ``labels[analysis]``; a row without an
    estimate says so."""
    several = len(protocol.active_arms) > 1
    texts = [
        labels[str(r["analysis"])] + (f" · {protocol.arm(str(r['arm'])).label}" if several else "")
        for r in rows.to_dict(orient="records")
    ]
    # room for the longest label (about 6.2 px a character at 11 px)
    w, right, top, row_h = 640.0, 24.0, 34.0, 22.0
    left = min(360.0, 16.0 + 6.2 * max((len(t) for t in texts), default=8))
    h = top + row_h * max(len(rows), 1) + 44
    ticks = axis_ticks(*_span(rows["ci_low"], rows["ci_high"]))
    x0, x1 = float(ticks[0]), float(ticks[-1]) if ticks[-1] > ticks[0] else float(ticks[0]) + 1

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * (w - left - right)

    bottom = top + row_h * max(len(rows), 1)
    out = [
        *svg_head(w, h, title, title, "forest-plot"),
    ]
    for t in ticks:
        x = sx(float(t))
        colour = "#888" if t == 0 else "#e5e8e8"
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{bottom:.1f}" '
            f'stroke="{colour}" stroke-width="1"/>'
        )
        out.append(f'<text x="{x:.1f}" y="{bottom + 14:.1f}" text-anchor="middle">{t:g}</text>')
    out.append(
        f'<text x="{(left + w - right) / 2:.1f}" y="{h - 8:.0f}" text-anchor="middle">'
        f"Treatment − {escape(protocol.control_arm.label)} (95 % CI)</text>"
    )
    colours = arm_colours(protocol)
    for i, (label, r) in enumerate(zip(texts, rows.to_dict(orient="records"), strict=True)):
        y = top + row_h * i + row_h / 2
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
        est, lo, hi = (float(r[k]) for k in ("estimate", "ci_low", "ci_high"))
        if not np.isfinite(est):
            out.append(f'<text x="{left + 6}" y="{y + 4:.1f}" fill="#888">not estimated</text>')
            continue
        c = colours[str(r["arm"])]
        out.append(
            f'<line x1="{sx(lo):.1f}" x2="{sx(hi):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{c}" stroke-width="2"/>'
        )
        shape = (
            f'<rect x="{sx(est) - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{c}"/>'
            if r["analysis"] == "primary"
            else f'<circle cx="{sx(est):.1f}" cy="{y:.1f}" r="4" fill="{c}"/>'
        )
        out.append(shape)
    out.append("</svg>")
    return "\n".join(out)


def tipping_svg(
    grid: pd.DataFrame, tips: dict[str, float | None], title: str, protocol: Protocol
) -> str:
    """The effect (line) and its CI (band) over the deltas of ``grid`` (``arm``,
    ``delta``, ``estimate``, ``ci_low``, ``ci_high``), one colour per active arm, and each
    arm's tipping delta (``tips``) as a dashed line."""
    w, h, left, right, top, bottom = 560.0, 330.0, 62.0, 16.0, 34.0, 52.0
    xt = axis_ticks(float(grid["delta"].min()), float(grid["delta"].max()))
    yt = axis_ticks(*_span(grid["ci_low"], grid["ci_high"]))
    x0, x1 = float(grid["delta"].min()), float(grid["delta"].max())
    y0, y1 = float(yt[0]), float(yt[-1]) if yt[-1] > yt[0] else float(yt[0]) + 1

    def sx(v: float) -> float:
        return left + (v - x0) / ((x1 - x0) or 1) * (w - left - right)

    def sy(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * (h - top - bottom)

    out = svg_head(w, h, title, title, "tipping-plot")
    out += y_gridlines(yt, sy, left, right, w)
    for t in xt:
        if x0 <= t <= x1:
            out.append(
                f'<text x="{sx(float(t)):.1f}" y="{h - bottom + 16}" '
                f'text-anchor="middle">{t:g}</text>'
            )
    out.append(
        f'<text x="{(left + w - right) / 2:.1f}" y="{h - 10:.0f}" text-anchor="middle">'
        "Delta added to the imputed values of the active arm</text>"
    )
    out.append(
        f'<text transform="translate(14,{(top + h - bottom) / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">Treatment − {escape(protocol.control_arm.label)}</text>'
    )
    colours = arm_colours(protocol)
    for k, (arm, g) in enumerate(grid.groupby("arm", sort=False)):
        c = colours[str(arm)]
        g = g.sort_values("delta")
        d = g["delta"].to_numpy(float)
        upper = [f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(d, g["ci_high"], strict=True)]
        lower = [f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(d, g["ci_low"], strict=True)]
        band = " ".join(upper + lower[::-1])
        out.append(f'<polygon points="{band}" fill="{c}" fill-opacity="0.15" stroke="none"/>')
        line = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(d, g["estimate"], strict=True))
        out.append(f'<polyline points="{line}" fill="none" stroke="{c}" stroke-width="1.8"/>')
        tip = tips.get(str(arm))
        name = protocol.arm(str(arm)).label
        text = f"{name}: tipping δ = {tip:.3g}" if tip is not None else f"{name}: no tipping"
        if tip is not None:
            out.append(
                f'<line x1="{sx(tip):.1f}" x2="{sx(tip):.1f}" y1="{top}" '
                f'y2="{h - bottom:.1f}" stroke="{c}" stroke-dasharray="4 3"/>'
            )
        ly = top + 4 + 15 * k
        out.append(f'<rect x="{left + 8}" y="{ly:.1f}" width="14" height="3" fill="{c}"/>')
        out.append(f'<text x="{left + 27}" y="{ly + 5:.1f}">{escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out)
