"""Figures: change from baseline by arm over visits (one per outcome) and the visit schedule.

Both are hand-built SVG, written to figures/ and inlined in the report.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

import numpy as np
import pandas as pd

from frailtrial.analysis.records import records
from frailtrial.protocol import Protocol

_COLOURS = ["#c0392b", "#2874a6", "#7d3c98", "#239b56"]
_POINT = ["visit", "mean_change", "se_change", "marker_vs_baseline", "marker_vs_control"]
"""The columns of Table 3's cells a point of :func:`change_svg` reads."""


def arm_colours(protocol: Protocol) -> dict[str, str]:
    """Placebo grey, active arms in distinct colours."""
    out, k = {}, 0
    for a in protocol.arms:
        if a.role == "placebo":
            out[a.name] = "#555555"
        else:
            out[a.name] = _COLOURS[k % len(_COLOURS)]
            k += 1
    return out


def axis_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 x 10^k)."""
    span = hi - lo if hi > lo else 1.0
    raw = span / n
    mag = 10 ** np.floor(np.log10(raw))
    step = mag * min((m for m in (1, 2, 5, 10) if m * mag >= raw), default=10)
    # whole multiples of the step: an accumulated sum printed 0 as -2.22045e-16 ("+ 0.0"
    # turns a negative zero into 0)
    return np.arange(np.floor(lo / step), np.ceil(hi / step) + 0.01) * step + 0.0


def svg_head(w: float, h: float, label: str, title: str, css_class: str = "") -> list[str]:
    """The opening ``<svg>`` (an image named ``label`` for screen readers) and its title line:
    the frame every figure of the report shares."""
    cls = f' class="{css_class}"' if css_class else ""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}" role="img" '
        f'aria-label="{escape(label)}" font-family="sans-serif" font-size="11"{cls}>',
        f'<text x="{w / 2:.1f}" y="18" text-anchor="middle" font-size="13" '
        f'font-weight="600">{escape(title)}</text>',
    ]


def y_gridlines(
    ticks: np.ndarray, sy: Callable[[float], float], left: float, right: float, w: float
) -> list[str]:
    """A horizontal line and a label per y tick (zero drawn darker)."""
    out = []
    for t in ticks:
        y = sy(float(t))
        colour = "#888" if t == 0 else "#e5e8e8"
        out.append(
            f'<line x1="{left}" x2="{w - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="1"/>'
        )
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{t:g}</text>')
    return out


def change_svg(cells: pd.DataFrame, variable: str, protocol: Protocol) -> str:
    """Mean change from baseline ± SE by arm over the visits, with Table 3's markers, as a
    hand-built SVG (fast, text stays text, scales to the page width)."""
    var = protocol.variable(variable)
    visits = protocol.assessment_visits
    sub = cells.loc[cells["variable"] == variable, ["arm", *(c for c in _POINT if c in cells)]]
    w, h, left, right, top, bottom = 560.0, 330.0, 62.0, 16.0, 34.0, 70.0
    m, e = sub["mean_change"].to_numpy(float), np.nan_to_num(sub["se_change"].to_numpy(float))
    ok = np.isfinite(m)
    lo_hi = [0.0, *(m[ok] - e[ok]), *(m[ok] + e[ok])]
    ticks = axis_ticks(min(lo_hi), max(lo_hi))
    y0, y1 = float(ticks[0]), float(ticks[-1]) if ticks[-1] > ticks[0] else float(ticks[0]) + 1
    step_x = (w - left - right) / max(len(visits) - 1, 1)

    def sx(i: float) -> float:
        return left + i * step_x

    def sy(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * (h - top - bottom)

    out = svg_head(
        w,
        h,
        f"{var.label} change from baseline",
        f"{var.label}: change from baseline (mean ± SE)",
    )
    out += y_gridlines(ticks, sy, left, right, w)
    for i, v in enumerate(visits):
        x = sx(i)
        out.append(
            f'<text transform="translate({x:.1f},{h - bottom + 16}) rotate(-30)" '
            f'text-anchor="end">{escape(v.label)}</text>'
        )
    unit = f" ({var.unit})" if var.unit else ""
    out.append(
        f'<text transform="translate(14,{(top + h - bottom) / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">Change{escape(unit)}</text>'
    )
    colours = arm_colours(protocol)
    offsets = np.linspace(-6.0, 6.0, len(protocol.arms))
    order = {v.name: i for i, v in enumerate(visits)}
    for k, (off, a) in enumerate(zip(offsets, protocol.arms, strict=True)):
        s = sub[sub["arm"] == a.name]
        c = colours[a.name]
        pts = []
        for r in records(s):
            mean, se = float(r["mean_change"]), float(r["se_change"])
            if not np.isfinite(mean):
                continue
            x, y = sx(order[str(r["visit"])]) + off, sy(mean)
            pts.append(f"{x:.1f},{y:.1f}")
            if np.isfinite(se) and se > 0:
                ya, yb = sy(mean + se), sy(mean - se)
                out.append(
                    f'<path d="M{x:.1f},{ya:.1f}V{yb:.1f}M{x - 3:.1f},{ya:.1f}h6'
                    f'M{x - 3:.1f},{yb:.1f}h6" stroke="{c}" fill="none"/>'
                )
            mark = f"{r.get('marker_vs_baseline') or ''}{r.get('marker_vs_control') or ''}"
            if mark:
                ytop = sy(mean + (se if np.isfinite(se) else 0)) - 3
                out.append(
                    f'<text x="{x:.1f}" y="{ytop:.1f}" text-anchor="middle" '
                    f'fill="{c}">{escape(mark)}</text>'
                )
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="{c}"/>')
        if pts:
            out.append(
                f'<polyline points="{" ".join(pts)}" fill="none" stroke="{c}" stroke-width="1.8"/>'
            )
        ly = top + 4 + 15 * k
        out.append(f'<rect x="{left + 8}" y="{ly:.1f}" width="14" height="3" fill="{c}"/>')
        out.append(f'<text x="{left + 27}" y="{ly + 5:.1f}">{escape(a.label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def schedule_svg(protocol: Protocol) -> str:
    """The visit schedule: each visit's window on the study-day axis, infusions as
    triangles (hand-built SVG)."""
    visits = protocol.visits
    w, left, right, row = 600.0, 96.0, 70.0, 26.0
    h = 40 + row * len(visits) + 50
    lo = min(v.day - v.window_before for v in visits)
    hi = max(v.day + v.window_after for v in visits)

    def sx(day: float) -> float:
        return left + (day - lo) / (hi - lo or 1) * (w - left - right)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}" role="img" '
        'aria-label="Visit schedule" font-family="sans-serif" font-size="11">'
    ]
    for i, v in enumerate(visits):
        y = 24 + row * i
        x0, x1 = sx(v.day - v.window_before), sx(v.day + v.window_after)
        out.append(f'<text x="{left - 8}" y="{y + 12}" text-anchor="end">{escape(v.label)}</text>')
        out.append(
            f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(x1 - x0, 2):.1f}" height="14" '
            'fill="#aed6f1" stroke="#2874a6"/>'
        )
        out.append(
            f'<line x1="{sx(v.day):.1f}" x2="{sx(v.day):.1f}" y1="{y}" y2="{y + 18}" '
            'stroke="#1b4f72" stroke-width="2"/>'
        )
        out.append(f'<text x="{x1 + 5:.1f}" y="{y + 13}">day {v.day}</text>')
    base = 24 + row * len(visits) + 6
    for d in protocol.arms[0].dose.infusion_days:
        x = sx(d)
        out.append(
            f'<path d="M{x - 6:.1f},{base + 10}L{x + 6:.1f},{base + 10}L{x:.1f},{base}Z" '
            'fill="#c0392b"/>'
        )
    out.append(
        f'<text x="{sx(protocol.arms[0].dose.infusion_days[-1]) + 10:.1f}" '
        f'y="{base + 10}" fill="#c0392b">infusion</text>'
    )
    out.append(
        f'<text x="{(left + w - right) / 2:.1f}" y="{h - 8:.0f}" text-anchor="middle">'
        "Study day (1 = first infusion); bars: visit windows</text>"
    )
    out.append("</svg>")
    return "\n".join(out)
