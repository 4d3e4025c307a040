"""Figures of the study report (PNG through matplotlib, the `plot` extra): the alpha1 x alpha2 heat
maps (Figure 3), metric-over-scale lines (Figures 4-5), long-tail bars and rounds. Without
matplotlib every figure is skipped once with a note; the tables carry the same numbers."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

NO_PLOTS = "(figures need the `plot` extra: pip install 'l4r[plot]')"



@dataclass
class Ctx:
    dataset: str
    figures: Path
    report_dir: Path
    plt: object = None
    noted: bool = field(default=False)   # said once that figures need matplotlib (or were turned off)

    def figure(self, fig, name: str, alt: str) -> list[str]:
        """Save a matplotlib figure; the markdown image line linking it."""
        self.figures.mkdir(parents=True, exist_ok=True)
        path = self.figures / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        self.plt.close(fig)
        return ["", f"![{alt}]({Path(os.path.relpath(path, self.report_dir)).as_posix()})"]

    def no_plots(self) -> list[str]:
        if self.noted:
            return []
        self.noted = True
        return ["", NO_PLOTS]


def pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def heatmap(ctx: Ctx, grids: dict[tuple, dict], crit: str, name: str) -> list[str]:
    modes = sorted({m for _, m in grids})
    fig, axes = ctx.plt.subplots(len(modes), 2, figsize=(8, 3.6 * len(modes)), squeeze=False)
    for i, mode in enumerate(modes):
        for j, split in enumerate(("valid", "test")):
            draw_grid(axes[i][j], grids.get((split, mode), {}), f"{split}, {mode}: {crit}")
    return ctx.figure(fig, name, f"{crit} over alpha1 x alpha2")


def draw_grid(ax, grid: dict[tuple, float], title: str) -> None:
    ax.set_title(title)
    if not grid:
        ax.axis("off")
        return
    a1s, a2s = sorted({a for a, _ in grid}), sorted({b for _, b in grid})
    z = [[grid.get((a, b), float("nan")) for b in a2s] for a in a1s]
    im = ax.imshow(z, origin="lower", cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(a2s)), [f"{b:g}" for b in a2s])
    ax.set_yticks(range(len(a1s)), [f"{a:g}" for a in a1s])
    ax.set_xlabel("alpha2")
    ax.set_ylabel("alpha1")
    for i, line in enumerate(z):
        for j, v in enumerate(line):
            if not math.isnan(v):
                ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=7, color="w")
    ax.figure.colorbar(im, ax=ax)


def line_plot(ctx: Ctx, vals: dict, cols: list[str], axis: str, name: str) -> list[str]:
    fig, axes = ctx.plt.subplots(1, len(cols), figsize=(3.2 * len(cols), 3), squeeze=False)
    xs = [str(x) for x in vals]
    for ax, c in zip(axes[0], cols):
        for key, label in (("ift", "IFT"), ("l4r", "Llama4Rec")):
            ax.plot(xs, [vals[x][key].get(c, float("nan")) for x in vals], marker="o", label=label)
        ax.set_title(c)
        ax.set_xlabel(axis)
        ax.tick_params(axis="x", labelrotation=30)
    axes[0][0].legend()
    return ctx.figure(fig, name, f"metrics over {axis}")


def bar_plot(ctx: Ctx, vals: dict, qs: list[str], label: dict, metric: str, name: str) -> list[str]:
    fig, ax = ctx.plt.subplots(figsize=(7, 3.5))
    width = 0.8 / max(1, len(vals))
    for i, (method, v) in enumerate(vals.items()):
        ax.bar([j + i * width for j in range(len(qs))], [v.get(q, (0, float("nan")))[1] for q in qs], width,
               label=method)
    ax.set_xticks([j + width * (len(vals) - 1) / 2 for j in range(len(qs))], [label[q] for q in qs])
    ax.set_ylabel(metric)
    ax.legend()
    return ctx.figure(fig, name, f"{metric} by user activity group")


def rounds_plot(ctx: Ctx, vals: dict, crit: str, name: str) -> list[str]:
    fig, ax = ctx.plt.subplots(figsize=(5, 3.2))
    for key, label in (("aug", "backbone"), ("l4r", "Llama4Rec")):
        ax.plot(list(vals), [vals[r][key].get(crit, float("nan")) for r in vals], marker="o", label=label)
    ax.set_xticks(list(vals))
    ax.set_xlabel("round")
    ax.set_ylabel(crit)
    ax.legend()
    return ctx.figure(fig, name, f"{crit} per round")
