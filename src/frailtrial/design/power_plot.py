"""Power curves of a simulated grid (matplotlib, PNG or SVG by the file's extension)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from frailtrial.design.simulated_power import GridPoint
from frailtrial.figure_files import check_plot_path


def plot_power_curves(points: list[GridPoint], path: str | Path, alpha: float = 0.05) -> Path:
    """Power (first treatment arm) against n per arm, one curve per effect x dropout, with
    +-1.96 Monte Carlo SE bars; against the effect when n is fixed."""
    out = check_plot_path(path)
    n_values = sorted({p.n_per_arm for p in points})
    by_n = len(n_values) > 1
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    groups: dict[tuple[float, float], list[GridPoint]] = {}
    for p in points:
        key = (p.effect, p.dropout) if by_n else (float(p.n_per_arm), p.dropout)
        groups.setdefault(key, []).append(p)
    for key, pts in groups.items():
        pts = sorted(pts, key=lambda q: q.n_per_arm if by_n else q.effect)
        x = [q.n_per_arm if by_n else q.effect for q in pts]
        y = [q.result.power[0] for q in pts]
        err = [1.96 * q.result.power_mc_se[0] for q in pts]
        label = (
            f"effect {key[0]:g}, dropout {key[1]:g}/visit"
            if by_n
            else f"n {key[0]:g}/arm, dropout {key[1]:g}/visit"
        )
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label)
    ax.axhline(0.8, color="grey", lw=0.8, ls="--")
    ax.axhline(alpha, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("participants per arm" if by_n else "effect at the primary visit")
    ax.set_ylabel("power (MMRM, primary visit)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Simulated power (bars: 95% Monte Carlo interval)")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
