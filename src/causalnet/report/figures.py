"""The report's figures: each function returns a matplotlib ``Figure`` (no pyplot state, no display).

:func:`png_bytes` renders one to PNG; the report embeds those bytes in the HTML and writes them
beside it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

#: Resolution of every PNG.
DPI = 110
#: zlib level of the PNG files (1: fast, files ~20 % larger than the default 6).
PNG_COMPRESSION = 1
#: Markers of source datasets in scatter plots (cycled).
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": PNG_COMPRESSION})
    return buf.getvalue()


def _class_colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def confusion_figure(matrices: dict[str, np.ndarray], class_names: Sequence[str], title: str = "") -> Figure:
    """Counts (top row) and row-normalised rates (bottom row) for each named confusion matrix ``[C, C]``."""
    names = list(matrices)
    c = len(class_names)
    side = 1.2 + 0.55 * c
    fig = Figure(figsize=(side * len(names) + 0.5, 2 * side + 0.6))
    axes = fig.subplots(2, len(names), squeeze=False)
    for j, name in enumerate(names):
        counts = np.asarray(matrices[name])
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        for i, (values, fmt, label) in enumerate(((counts, "{:d}", "counts"), (rates, "{:.2f}", "row-normalised"))):
            ax = axes[i, j]
            ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
            for (r, k), v in np.ndenumerate(values):
                text = fmt.format(int(v)) if fmt == "{:d}" else fmt.format(v)
                ax.text(k, r, text, ha="center", va="center", fontsize=8,
                        color="white" if rates[r, k] > 0.6 else "black")
            ax.set_xticks(range(c), class_names, rotation=45, ha="right", fontsize=7)
            ax.set_yticks(range(c), class_names, fontsize=7)
            ax.set_title(f"{name} ({label}, n={int(counts.sum())})", fontsize=8)
            if j == 0:
                ax.set_ylabel("true", fontsize=8)
            if i == 1:
                ax.set_xlabel("predicted", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def per_subject_figure(subjects: list[dict], title: str = "") -> Figure:
    """Horizontal bars of each subject's accuracy (sorted), its UF1 as a dot, its clip count as text.

    ``subjects``: dicts with ``subject``, ``dataset``, ``n`` (clips), ``acc``, ``uf1`` (means over runs).
    """
    order = sorted(subjects, key=lambda s: (s["acc"], s["uf1"]))
    from causalnet.report.runs import dataset_order

    datasets = dataset_order(s["dataset"] for s in subjects) or [""]
    colors = dict(zip(datasets, _class_colors(len(datasets) + 3)[3:], strict=False))
    fig = Figure(figsize=(7.2, 1.0 + 0.17 * len(order)))
    ax = fig.subplots()
    y = np.arange(len(order))
    ax.barh(y, [s["acc"] for s in order], color=[colors.get(s["dataset"], "tab:gray") for s in order], height=0.75)
    ax.plot([s["uf1"] for s in order], y, "k.", markersize=4, label="UF1 of the subject's clips")
    for i, s in enumerate(order):
        ax.text(1.01, i, f"n={s['n']}", va="center", fontsize=6)
    ax.set_yticks(y, [f"{s['subject']} ({s['dataset']})" if s["dataset"] else s["subject"] for s in order],
                  fontsize=6)
    ax.set_xlim(0, 1.12)
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.set_xlabel("accuracy on the subject's clips (bar) / UF1 (dot)")
    from matplotlib.patches import Patch

    handles = [Patch(color=colors.get(d, "tab:gray"), label=d or "?") for d in datasets]
    ax.legend(handles=[*handles, ax.lines[0]], fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0),
              ncol=len(handles) + 1, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title or "per-subject results (sorted)", fontsize=9)
    fig.tight_layout()
    return fig


def learning_curve_figure(val_uf1: np.ndarray, test_uf1: np.ndarray, chosen: dict[str, np.ndarray]) -> Figure:
    """Mean ± std over runs of the members' validation UF1 and the pooled test UF1 per epoch (top),
    and how often each protocol chose each epoch (bottom). Inputs ``[runs, epochs]``; epochs 1-based."""
    epochs = np.arange(1, test_uf1.shape[1] + 1)
    fig = Figure(figsize=(7.2, 5.2))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    if not np.isnan(val_uf1).all():
        _band(top, epochs, val_uf1, "members' validation UF1 (training subjects held out)", "tab:blue")
    _band(top, epochs, test_uf1, "pooled test UF1 (for insight only: never used to choose)", "tab:red", dashed=True)
    top.set_ylabel("UF1")
    top.grid(alpha=0.3)
    top.legend(fontsize=7, loc="lower right")
    top.set_title("learning curves (mean ± std over runs)", fontsize=9)
    colors = {"fixed": "tab:green", "val": "tab:blue", "oracle": "tab:red"}
    width = 0.8 / max(len(chosen), 1)
    for i, (protocol, picks) in enumerate(chosen.items()):
        counts = np.bincount(picks, minlength=len(epochs))[: len(epochs)]
        share = counts / max(counts.sum(), 1)
        label = f"{protocol} (ORACLE: chosen on test labels)" if protocol == "oracle" else protocol
        bottom.bar(epochs + (i - (len(chosen) - 1) / 2) * width, share, width=width,
                   color=colors.get(protocol, "grey"), label=label)
        if protocol == "fixed":
            top.axvline(epochs[-1], color=colors["fixed"], linestyle=":", linewidth=1)
    from matplotlib.ticker import MaxNLocator

    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_ylabel("share of\nchoices", fontsize=8)
    bottom.set_xlabel("epoch")
    bottom.legend(fontsize=7, ncol=3, loc="upper left")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _band(ax, x: np.ndarray, values: np.ndarray, label: str, color: str, dashed: bool = False) -> None:
    mean = np.nanmean(values, axis=0)
    std = np.nanstd(values, axis=0)
    ax.plot(x, mean, color=color, linestyle="--" if dashed else "-", label=label)
    if len(values) > 1:
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15)


def embedding_figure(xy: np.ndarray, labels: np.ndarray, datasets: np.ndarray, correct: np.ndarray,
                     class_names: Sequence[str], title: str = "") -> Figure:
    """2-D embedding: colour = true class, marker = source dataset, hollow = misclassified."""
    fig = Figure(figsize=(6.4, 5.4))
    ax = fig.subplots()
    colors = _class_colors(len(class_names))
    names = list(dict.fromkeys(datasets.tolist()))
    for d, name in enumerate(names):
        for c in range(len(class_names)):
            sel = (datasets == name) & (labels == c)
            for ok in (True, False):
                s = sel & (correct == ok)
                if s.any():
                    ax.scatter(xy[s, 0], xy[s, 1], s=16, marker=MARKERS[d % len(MARKERS)], linewidths=0.8,
                               facecolors=colors[c] if ok else "none", edgecolors=colors[c])
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="", color=colors[c], label=n) for c, n in enumerate(class_names)]
    handles += [Line2D([], [], marker=MARKERS[d % len(MARKERS)], linestyle="", color="grey", label=n or "?")
                for d, n in enumerate(names)]
    handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none", color="grey",
                          label="misclassified"))
    ax.legend(handles=handles, fontsize=7, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "t-SNE of pre-head features", fontsize=9)
    fig.tight_layout()
    return fig


IMAGE_TITLES = ("flow onset→apex", "flow apex→offset", "direction onset→apex", "direction apex→offset")
#: The CMPLM's tokens: the encoder's final 1×1 feature split into four channel groups (SPEC §3), not regions.
TOKEN_LABELS = ("g1", "g2", "g3", "g4")
#: Query and key phases of each CMPLM stream (stream 0 updates onset→apex tokens from apex→offset ones).
STREAMS = (("onset→apex", "apex→offset"), ("apex→offset", "onset→apex"))


def clip_figure(images: np.ndarray, title: str, saliency: np.ndarray | None = None,
                attention: list[np.ndarray] | None = None, saliency_class: str | None = None) -> Figure:
    """One clip: the four input images (BGR uint8 ``[4, 28, 28, 3]``, shown as RGB; row 1), the u, v and
    strain channels of both flow images (row 2), the gradient saliency ``[4, 28, 28]`` drawn over each
    image with a colour bar (row 3, when given) and the CMPLM attention ``[n, n]`` per stream as a matrix
    of query tokens (rows) × key tokens (columns) with its colour bar (row 4, when given).

    Image axes are in pixels of the 28 × 28 input; saliency is ``|∂ logit / ∂ input|`` divided by its
    largest value over the four images, so the four panels share one scale.
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    from causalnet.flow.optical_flow import CHANNEL_STRAIN, CHANNEL_U, CHANNEL_V

    attention = list(attention or [])[:2]
    rows = 2 + (saliency is not None) + bool(attention)
    panel = 1.45  # inches per image panel
    fig = Figure(figsize=(6 * panel + 1.3, rows * (panel + 0.5) + 0.45))
    top = 1 - 0.45 / fig.get_figheight()
    grid = fig.add_gridspec(rows, 6, left=0.05, right=0.97, bottom=0.06, top=top - 0.02, wspace=0.45,
                            hspace=0.45)
    fig.suptitle(title, fontsize=8, y=1 - 0.12 / fig.get_figheight(), va="top")
    small = {"fontsize": 6}

    def image_axis(r: int, c: int, text: str):
        ax = fig.add_subplot(grid[r, c])
        ax.set_title(text, fontsize=6.5)
        ax.set_xticks([0, 13, 27])
        ax.set_yticks([0, 13, 27])
        ax.tick_params(labelsize=5, length=2, pad=1)
        return ax

    for i in range(4):
        ax = image_axis(0, i, IMAGE_TITLES[i])
        ax.imshow(images[i][..., ::-1], interpolation="nearest")
        if i == 0:
            ax.set_ylabel("y (pixel)", **small)
    channels = ((CHANNEL_U, "u"), (CHANNEL_V, "v"), (CHANNEL_STRAIN, "strain"))
    for img in (0, 1):
        for j, (ch, name) in enumerate(channels):
            ax = image_axis(1, 3 * img + j, f"{IMAGE_TITLES[img]}: {name}")
            ax.imshow(images[img][..., ch], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            if img == 0 and j == 0:
                ax.set_ylabel("y (pixel)", **small)
    row = 2
    if saliency is not None:
        peak = max(float(np.max(saliency)), 1e-12)
        heat, norm = colormaps["inferno"], Normalize(0, 1)
        for i in range(4):
            ax = image_axis(row, i, f"saliency over\n{IMAGE_TITLES[i]}")
            ax.imshow(images[i].mean(axis=-1), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            shown = ax.imshow(saliency[i] / peak, cmap=heat, norm=norm, alpha=0.6, interpolation="nearest")
            ax.set_xlabel("x (pixel)", **small)
            if i == 0:
                ax.set_ylabel("y (pixel)", **small)
        bar = fig.colorbar(shown, cax=_bar_axis(fig, grid[row, 4]))
        bar.set_label("|∂ logit / ∂ input|\n÷ its maximum" + (f"\n(class {saliency_class})" if saliency_class
                                                                 else ""), fontsize=5.5)
        bar.ax.tick_params(labelsize=5)
        row += 1
    if attention:
        vmax = max(float(max(np.max(a) for a in attention)), 1e-12)
        for k, att in enumerate(attention):
            query, key = STREAMS[k]
            ax = fig.add_subplot(grid[row, 2 * k: 2 * k + 2])
            shown = ax.imshow(att, cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest", aspect="equal")
            n = att.shape[0]
            labels = list(TOKEN_LABELS[:n]) if n <= len(TOKEN_LABELS) else [f"g{i + 1}" for i in range(n)]
            ax.set_xticks(range(n), labels, fontsize=5.5)
            ax.set_yticks(range(n), labels, fontsize=5.5)
            ax.set_xlabel(f"key token ({key} channel group)", **small)
            ax.set_ylabel(f"query token\n({query} group)", **small)
            ax.set_title(f"CMPLM attention, {query} queries", fontsize=6.5)
            for (q, c), v in np.ndenumerate(att):
                ax.text(c, q, f"{v:.2f}", ha="center", va="center", fontsize=5,
                        color="white" if v < 0.6 * vmax else "black")
        bar = fig.colorbar(shown, cax=_bar_axis(fig, grid[row, 4]))
        bar.set_label("attention weight\n(mean over heads, layers)", fontsize=5.5)
        bar.ax.tick_params(labelsize=5)
    return fig


def _bar_axis(fig: Figure, cell):
    """A narrow colour-bar axis at the left of a grid cell."""
    holder = fig.add_subplot(cell)
    holder.set_axis_off()
    return holder.inset_axes((0.0, 0.0, 0.12, 1.0))


def metric_vs_sigma_figure(metrics: dict, specs, rcfg, benchmark: str = "all test clips") -> Figure:
    """UF1 and UAR (%) against σ per model spec (error bars: std over runs), spotting at the right."""
    from causalnet.robustness.report import draw_metric_vs_sigma

    fig = Figure(figsize=(11, 4.2))
    for ax, metric in zip(fig.subplots(1, 2), ("uf1", "uar"), strict=True):
        draw_metric_vs_sigma(ax, metrics, specs, rcfg, metric, benchmark)
        ax.set_title(f"{metric.upper()} under key-frame errors", fontsize=9)
    fig.tight_layout()
    return fig


def keyframe_error_figure(errors: dict[str, np.ndarray], correct: dict[str, dict[str, np.ndarray]],
                          bins: Sequence[float]) -> Figure:
    """Left: distribution of the absolute key-frame errors per condition (onset/apex/offset, frames).
    Right: accuracy of each model against the absolute apex error (binned)."""
    fig = Figure(figsize=(11, 4.0))
    left, right = fig.subplots(1, 2)
    conditions = list(errors)
    parts = ("onset", "apex", "offset")
    width = 0.8 / len(parts)
    for k in range(len(parts)):
        data = [errors[c][:, k] for c in conditions]
        pos = np.arange(len(conditions)) + (k - 1) * width
        left.boxplot(data, positions=pos, widths=width * 0.9, showfliers=False, patch_artist=True,
                     boxprops={"facecolor": _class_colors(3)[k], "alpha": 0.6}, medianprops={"color": "black"})
    left.set_xticks(range(len(conditions)), conditions, fontsize=8)
    left.set_ylabel("|error| (frames)")
    from matplotlib.patches import Patch

    left.legend(handles=[Patch(color=_class_colors(3)[k], alpha=0.6, label=p) for k, p in enumerate(parts)],
                fontsize=7)
    left.set_title("key-frame errors against the annotation", fontsize=9)
    left.grid(alpha=0.3)
    edges = np.asarray(bins, float)
    centres = [f"{edges[i]:g}–{edges[i + 1]:g}" if np.isfinite(edges[i + 1]) else f"≥{edges[i]:g}"
               for i in range(len(edges) - 1)]
    for model, (err, ok) in correct.items():
        idx = np.digitize(err, edges[1:-1])
        acc = [100 * ok[idx == i].mean() if (idx == i).any() else np.nan for i in range(len(centres))]
        right.plot(range(len(centres)), acc, marker="o", label=model)
    right.set_xticks(range(len(centres)), centres, fontsize=8)
    right.set_xlabel("|apex error| (frames)")
    right.set_ylabel("accuracy %")  # one unit in every report: %
    right.set_title("accuracy against the apex error (all conditions pooled)", fontsize=9)
    right.grid(alpha=0.3)
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


def forest_figure(results: list[dict]) -> Figure:
    """Δ (B − A) with its 95 % bootstrap interval per comparison and source dataset, UF1 and UAR; a group
    with too few subjects for an interval (``low``/``high`` None) is a hollow dot without a bar."""
    labels, deltas, lows, highs = [], {"uf1": [], "uar": []}, {"uf1": [], "uar": []}, {"uf1": [], "uar": []}
    for res in results:
        for group, g in res["groups"].items():
            label = f"{res['b']} vs {res['a']}: {group}" if len(results) > 1 else group
            labels.append(label + (f" (n = {g['subjects']}: no interval)" if g["ci"]["uf1"]["low"] is None else ""))
            for m in ("uf1", "uar"):
                deltas[m].append(100 * g["delta"][m])
                low, high = g["ci"][m]["low"], g["ci"][m]["high"]
                lows[m].append(np.nan if low is None else 100 * low)
                highs[m].append(np.nan if high is None else 100 * high)
    fig = Figure(figsize=(9, 1.2 + 0.35 * len(labels)))
    y = np.arange(len(labels))[::-1]
    for ax, m in zip(fig.subplots(1, 2, sharey=True), ("uf1", "uar"), strict=True):
        d, lo, hi = map(np.array, (deltas[m], lows[m], highs[m]))
        has = np.isfinite(lo) & np.isfinite(hi)
        if has.any():
            ax.errorbar(d[has], y[has], xerr=[d[has] - lo[has], hi[has] - d[has]], fmt="o", capsize=3,
                        color="tab:blue")
        if (~has).any():
            ax.plot(d[~has], y[~has], "o", markerfacecolor="none", color="tab:blue")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlabel(f"Δ{m.upper()} (B − A), points of %")
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(f"Δ{m.upper()} with 95 % bootstrap CI over subjects", fontsize=9)
    fig.tight_layout()
    return fig
