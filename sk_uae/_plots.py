"""Figures: those of the command line (drawn off-screen) and the robustness curve's."""

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_examples(original, adversarial, image_shape, path, success=None):
    """Originals (top row), UAEs (middle) and their difference (bottom, with a colour bar).

    Examples whose attack failed (``success`` False) are framed in red and
    labelled: they are the iterate of smallest attack loss, not a UAE.
    """
    plt = _plt()
    n = len(original)
    fig, axes = plt.subplots(3, n, figsize=(1.4 * n + 1.0, 4.6), squeeze=False)
    h, w = image_shape[-2:]
    diff = adversarial - original
    span = max(float(np.abs(diff).max()), 1e-12)
    for j in range(n):
        for i, (img, kw) in enumerate([
            (original[j], dict(cmap="gray", vmin=0, vmax=1)),
            (adversarial[j], dict(cmap="gray", vmin=0, vmax=1)),
            (diff[j], dict(cmap="coolwarm", vmin=-span, vmax=span)),
        ]):
            shown = axes[i, j].imshow(np.asarray(img).reshape(h, w), **kw)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        if success is not None and not bool(success[j]):
            for spine in axes[1, j].spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(2)
            axes[1, j].set_xlabel("attack failed", fontsize=7, color="red")
    for i, label in enumerate(["original", "UAE", "UAE - original"]):
        axes[i, 0].set_title(label, fontsize=8, loc="left")
    fig.tight_layout()
    fig.colorbar(shown, ax=list(axes[2]), shrink=0.9, label="difference")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_scores(summary, metric, path, higher_is_better=False):
    """Mean and standard deviation of the metric per method.

    The axis is zoomed to the bars' range (the differences are a few percent
    of the values), and the figure says so, and which way is better.
    """
    plt = _plt()
    methods = list(summary)
    means = [summary[m]["mean"] for m in methods]
    stds = [summary[m]["std"] for m in methods]
    fig, ax = plt.subplots(figsize=(1.2 * len(methods) + 2, 3.2))
    ax.bar(methods, means, yerr=stds, capsize=4, color="#4C72B0")
    lo = min(m - s for m, s in zip(means, stds))
    hi = max(m + s for m, s in zip(means, stds))
    pad = 0.5 * (hi - lo) + 1e-12
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_ylabel(f"{metric}\n({'higher' if higher_is_better else 'lower'} is better)",
                  fontsize=8)
    ax.set_title("held-out metric per augmentation (mean +- std over seeds);\n"
                 f"the axis starts at {lo - pad:.4g}, not at 0", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_robustness_curve(curve, metric=None, *, ax=None, label=None, **kwargs):
    """Draw one measure of a robustness curve against the budget.

    The y-axis starts at zero when the measure has no negative value, and
    its label says which way is more robust.

    Parameters
    ----------
    curve : pandas.DataFrame
        What :func:`sk_uae.metrics.robustness_curve` returns (a column
        ``eps`` and one per measure).
    metric : str, default=None
        The column to draw; ``None`` takes the first measure.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; ``None`` makes a new figure.
    label : str, default=None
        Legend label of the line (e.g. ``"adversarial training"``); a
        legend is drawn when given.
    **kwargs
        Passed to ``ax.plot`` (``color``, ``linestyle``, ...).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    measures = [c for c in curve.columns if c not in ("eps", "seconds")]
    if metric is None:
        if not measures:
            raise ValueError("the curve has no measure to draw; expected columns besides "
                             "'eps' and 'seconds'.")
        metric = measures[0]
    elif metric not in measures:
        raise ValueError(f"metric={metric!r} is not a measure of the curve; expected one of "
                         f"{measures}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    line, = ax.plot(curve["eps"], curve[metric], marker="o", label=label, **kwargs)
    better = getattr(curve, "attrs", {}).get("greater_is_better", {}).get(metric)
    direction = "" if better is None else (" (higher is more robust)" if better
                                           else " (lower is more robust)")
    ax.set_xlabel("eps (the attack's budget)")
    ax.set_ylabel(f"{metric}{direction}", fontsize=8)
    if (curve[metric].dropna() >= 0).all():
        # the gaps between curves in proportion to the values, as the other figures; zero
        # joins the data limits (no margin below it), so later curves still rescale the axis
        line.sticky_edges.y.append(0.0)
        ax.update_datalim([(float(curve["eps"].min()), 0.0)])
        ax.autoscale_view()
    if label is not None:
        ax.legend(fontsize=8)
    return ax


def plot_robustness_curves(curves, path, title=None):
    """Every measure of several models' robustness curves, one panel each, to a PNG.

    ``curves`` maps a label (e.g. ``"none"``, ``"adversarial"``) to what
    :func:`sk_uae.metrics.robustness_curve` returned; all have the same
    measures.
    """
    plt = _plt()
    first = next(iter(curves.values()))
    measures = [c for c in first.columns if c not in ("eps", "seconds")]
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.4),
                             squeeze=False)
    for ax, metric in zip(axes[0], measures):
        for label, curve in curves.items():
            plot_robustness_curve(curve, metric, ax=ax, label=label)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
