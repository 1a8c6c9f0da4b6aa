"""CONSORT 2010 flow: counts from the screening, dosing and withdrawal records, and the diagram.

Enrollment: screened, excluded (with reasons), randomized. Allocation per arm: allocated,
received the allocated intervention (at least one infusion). Follow-up: withdrawn or lost
(with reasons). Analysis: analysed by the primary analysis (the primary model of the primary
endpoint's variable, or the primary population for an incidence endpoint), and excluded from
it with the reasons: not in the primary population, or left out of the model (no baseline
value, no post-baseline value, a missing covariate).

The diagram is one layout drawn twice: as SVG markup (inlined in the report) and as a PNG
with Pillow, each in a few milliseconds (matplotlib's import alone took most of a second of
``frailtrial analyze``).
"""

from __future__ import annotations

import importlib.util
import math
import textwrap
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from frailtrial.analysis.endpoints import primary_model
from frailtrial.analysis.models import Models
from frailtrial.dataset import TrialDataset
from frailtrial.protocol import Protocol


@dataclass(frozen=True)
class ArmFlow:
    """One arm's column of the CONSORT diagram."""

    arm: str
    label: str
    allocated: int
    received: int
    not_received: int
    withdrawn: int
    withdrawal_reasons: dict[str, int]
    analysed: int
    excluded_from_analysis: int
    exclusion_reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsortFlow:
    """The whole flow; ``excluded_reasons`` maps reason -> count."""

    screened: int
    excluded: int
    excluded_reasons: dict[str, int]
    randomized: int
    arms: list[ArmFlow] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _reasons(values: pd.Series) -> dict[str, int]:
    filled = values.fillna("not given").astype(str)
    counts = filled.value_counts(sort=False)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {str(k): int(v) for k, v in ordered}


def primary_left_out(models: Models, protocol: Protocol) -> pd.DataFrame:
    """Participants the primary analysis leaves out: those the primary model could not use
    for the primary endpoint's variable (nobody for an incidence endpoint)."""
    ep = protocol.primary_endpoint
    primary = primary_model(protocol)
    e = models.excluded
    if primary is None:  # an incidence endpoint, or no model of its measure
        return e.iloc[:0]
    return e[(e["model"] == primary.name) & (e["variable"] == ep.variable)]


def consort_flow(
    ds: TrialDataset,
    protocol: Protocol,
    analysed: pd.Series,
    left_out: pd.DataFrame | None = None,
) -> ConsortFlow:
    """Counts of the flow; ``analysed`` is the primary population's arm by participant and
    ``left_out`` (participant_id, reason) those of them the primary analysis could not use."""
    label = protocol.analysis.primary_population.upper()
    gone = left_out if left_out is not None else pd.DataFrame(columns=["participant_id"])
    analysed = analysed[~analysed.index.isin(gone["participant_id"])]
    scr = ds.screening
    not_rand = scr[scr["participant_id"].isna()]
    parts = ds.participants
    dosed = set(ds.dosing["participant_id"])
    arms = []
    for a in protocol.arms:
        in_arm = parts[parts["arm"] == a.name]
        received = int(in_arm["participant_id"].isin(dosed).sum())
        withdrew = in_arm[in_arm["withdrawn_on"].notna()]
        n_analysed = int((analysed == a.name).sum())
        ids = in_arm["participant_id"]
        outside = int((~ids.isin(analysed.index) & ~ids.isin(gone["participant_id"])).sum())
        why = _reasons(gone.loc[gone["participant_id"].isin(ids), "reason"]) if len(gone) else {}
        if outside:
            why = {f"not in the {label} population": outside, **why}
        arms.append(
            ArmFlow(
                arm=a.name,
                label=a.label,
                allocated=len(in_arm),
                received=received,
                not_received=len(in_arm) - received,
                withdrawn=len(withdrew),
                withdrawal_reasons=_reasons(withdrew["withdrawal_reason"]),
                analysed=n_analysed,
                excluded_from_analysis=len(in_arm) - n_analysed,
                exclusion_reasons=why,
            )
        )
    return ConsortFlow(
        screened=len(scr) if len(scr) else len(parts),
        excluded=len(not_rand),
        excluded_reasons=_reasons(not_rand["reason_not_randomized"]),
        randomized=len(parts),
        arms=arms,
    )


def _lines(reasons: dict[str, int], limit: int = 6, width: int = 44) -> list[str]:
    """The most frequent reasons, each shortened to fit the diagram's box."""
    items = list(reasons.items())
    shown = [f"  {textwrap.shorten(k, width, placeholder='…')} (n = {v})" for k, v in items[:limit]]
    if len(items) > limit:
        shown.append(f"  other reasons (n = {sum(v for _, v in items[limit:])})")
    return shown


@dataclass(frozen=True)
class _Box:
    x: float  # figure fraction, 0..1 from the left
    y: float  # figure fraction, 0..1 from the bottom (the box's vertical centre)
    lines: tuple[str, ...]
    ha: str = "center"  # x is the text's centre, or (``left``) its left edge


@dataclass(frozen=True)
class _Layout:
    """The diagram in figure fractions, drawn by both the SVG and the PNG writer."""

    width: float  # points
    height: float
    boxes: list[_Box]
    stages: list[tuple[float, str]]  # (y, label)
    lines: list[tuple[float, float, float, float]]
    arrows: list[tuple[float, float, float, float]]


_FONT_PT, _SPACING, _PAD = 8.0, 1.3, 4.0  # font size, line spacing, box padding (points)
_INK, _STAGE_INK = "#222222", "#334455"


def _layout(flow: ConsortFlow, population_label: str) -> _Layout:
    k = len(flow.arms)
    excl = (f"Excluded (n = {flow.excluded})", *_lines(flow.excluded_reasons))
    boxes = [
        _Box(0.35, 0.95, (f"Assessed for eligibility (n = {flow.screened})",)),
        _Box(0.55, 0.84, excl, "left"),
        _Box(0.35, 0.735, (f"Randomized (n = {flow.randomized})",)),
    ]
    xs = [(i + 0.5) / k * 0.9 + 0.06 for i in range(k)]
    lines = [(0.35, 0.84, 0.54, 0.84), (xs[0], 0.70, xs[-1], 0.70), (0.35, 0.715, 0.35, 0.70)]
    arrows = [(0.35, 0.925, 0.35, 0.755)]
    for x, a in zip(xs, flow.arms, strict=True):
        follow = [f"Discontinued / lost to follow-up (n = {a.withdrawn})"]
        follow += _lines(a.withdrawal_reasons, 3) if a.withdrawn else []
        boxes += [
            _Box(
                x,
                0.62,
                (
                    f"Allocated to {a.label} (n = {a.allocated})",
                    f"Received allocated intervention (n = {a.received})",
                    f"Did not receive it (n = {a.not_received})",
                ),
            ),
            _Box(x, 0.38, tuple(follow)),
            _Box(
                x,
                0.14,
                (
                    f"Analysed, {population_label} (n = {a.analysed})",
                    f"Excluded from analysis (n = {a.excluded_from_analysis})",
                    *_lines(a.exclusion_reasons, 3),
                ),
            ),
        ]
        arrows += [(x, 0.70, x, 0.67), (x, 0.575, x, 0.455), (x, 0.31, x, 0.20)]
    stages = [(0.95, "Enrollment"), (0.62, "Allocation"), (0.38, "Follow-up"), (0.14, "Analysis")]
    return _Layout(72 * max(7.0, 3.2 * k), 72 * 7.8, boxes, stages, lines, arrows)


def _font_file(bold: bool) -> str | None:
    """DejaVu Sans from matplotlib's bundled fonts or the system's (matplotlib itself is
    not imported: it costs more than the whole drawing)."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    spec = importlib.util.find_spec("matplotlib")
    roots = []
    if spec is not None and spec.origin:
        roots.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    roots.append(Path("/usr/share/fonts/truetype/dejavu"))
    return next((str(r / name) for r in roots if (r / name).is_file()), None)


@lru_cache(maxsize=8)
def _font(size_px: float, bold: bool = False) -> Any:
    from PIL import ImageFont

    path = _font_file(bold)
    return ImageFont.truetype(path, size_px) if path else ImageFont.load_default(size_px)


def _text_width(line: str, bold: bool = False) -> float:
    """Width of a line at the diagram's font size, in points."""
    return float(_font(_FONT_PT * 10, bold).getlength(line)) / 10


def _box_rect(b: _Box, lay: _Layout) -> tuple[float, float, float, float]:
    """(left, top, width, height) of a box in points from the top-left corner."""
    w = max(_text_width(t) for t in b.lines) + 2 * _PAD
    h = len(b.lines) * _FONT_PT * _SPACING + 2 * _PAD
    cx, cy = b.x * lay.width, (1 - b.y) * lay.height
    left = cx - w / 2 if b.ha == "center" else cx - _PAD
    return left, cy - h / 2, w, h


def _head(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    """The triangle of an arrow head ending at (x1, y1), in points."""
    dx, dy = x1 - x0, y1 - y0
    n = math.hypot(dx, dy) or 1.0
    ux, uy = dx / n, dy / n
    bx, by = x1 - 6 * ux, y1 - 6 * uy
    return [(x1, y1), (bx - 2.5 * uy, by + 2.5 * ux), (bx + 2.5 * uy, by - 2.5 * ux)]


def consort_svg(flow: ConsortFlow, population_label: str = "ITT") -> str:
    """The CONSORT 2010 diagram as inline SVG markup (scalable, text as text)."""
    lay = _layout(flow, population_label)
    w, h = lay.width, lay.height

    def pt(x: float, y: float) -> tuple[float, float]:
        return x * w, (1 - y) * h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.1f} {h:.1f}" role="img" '
        f'aria-label="CONSORT flow diagram" font-family="DejaVu Sans, Arial, sans-serif" '
        f'font-size="{_FONT_PT:g}">',
        f'<rect width="{w:.1f}" height="{h:.1f}" fill="white"/>',
    ]
    for y, label in lay.stages:
        x, yy = pt(0.01, y)
        out.append(
            f'<text x="{x:.1f}" y="{yy:.1f}" dominant-baseline="central" font-weight="bold" '
            f'fill="{_STAGE_INK}">{escape(label)}</text>'
        )
    for x0, y0, x1, y1 in lay.lines + lay.arrows:
        (a, b), (c, d) = pt(x0, y0), pt(x1, y1)
        out.append(
            f'<line x1="{a:.1f}" y1="{b:.1f}" x2="{c:.1f}" y2="{d:.1f}" stroke="{_INK}" '
            'stroke-width="0.9"/>'
        )
    for x0, y0, x1, y1 in lay.arrows:
        tri = " ".join(f"{px:.1f},{py:.1f}" for px, py in _head(*pt(x0, y0), *pt(x1, y1)))
        out.append(f'<polygon points="{tri}" fill="{_INK}"/>')
    step = _FONT_PT * _SPACING
    for bx in lay.boxes:
        left, top, bw, bh = _box_rect(bx, lay)
        out.append(
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{bw:.1f}" height="{bh:.1f}" '
            f'fill="white" stroke="{_INK}" stroke-width="0.9"/>'
        )
        anchor, tx = ("middle", left + bw / 2) if bx.ha == "center" else ("start", left + _PAD)
        for i, line in enumerate(bx.lines):
            ty = top + _PAD + step * (i + 0.5)
            out.append(
                f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" '
                f'dominant-baseline="central" xml:space="preserve">{escape(line)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


def consort_png(
    flow: ConsortFlow, path: Path, population_label: str = "ITT", dpi: int = 150
) -> None:
    """The same diagram as a PNG at ``dpi`` (drawn with Pillow)."""
    from PIL import Image, ImageDraw

    lay = _layout(flow, population_label)
    s = dpi / 72
    img = Image.new("RGB", (round(lay.width * s), round(lay.height * s)), "white")
    draw = ImageDraw.Draw(img)
    font, bold = _font(_FONT_PT * s), _font(_FONT_PT * s, bold=True)
    lw = max(1, round(0.9 * s))

    def px(x: float, y: float) -> tuple[float, float]:
        return x * lay.width * s, (1 - y) * lay.height * s

    for y, label in lay.stages:
        draw.text(px(0.01, y), label, font=bold, fill=_STAGE_INK, anchor="lm")
    for x0, y0, x1, y1 in lay.lines + lay.arrows:
        draw.line([px(x0, y0), px(x1, y1)], fill=_INK, width=lw)
    for x0, y0, x1, y1 in lay.arrows:
        (a, b), (c, d) = px(x0, y0), px(x1, y1)
        draw.polygon([(u * s, v * s) for u, v in _head(a / s, b / s, c / s, d / s)], fill=_INK)
    step = _FONT_PT * _SPACING
    for bx in lay.boxes:
        left, top, bw, bh = _box_rect(bx, lay)
        draw.rectangle(
            [left * s, top * s, (left + bw) * s, (top + bh) * s],
            fill="white",
            outline=_INK,
            width=lw,
        )
        anchor, tx = ("mm", left + bw / 2) if bx.ha == "center" else ("lm", left + _PAD)
        for i, line in enumerate(bx.lines):
            ty = top + _PAD + step * (i + 0.5)
            draw.text((tx * s, ty * s), line, font=font, fill=_INK, anchor=anchor)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", compress_level=1)  # half zlib's default time, ~15 % bigger
