"""Figures of the command line (matplotlib, drawn off-screen)."""

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_examples(original, adversarial, image_shape, path):
    """Originals (top row), UAEs (middle) and their difference (bottom)."""
    plt = _plt()
    n = len(original)
    fig, axes = plt.subplots(3, n, figsize=(1.4 * n, 4.4), squeeze=False)
    h, w = image_shape[-2:]
    diff = adversarial - original
    span = max(float(np.abs(diff).max()), 1e-12)
    for j in range(n):
        for i, (img, kw) in enumerate([
            (original[j], dict(cmap="gray", vmin=0, vmax=1)),
            (adversarial[j], dict(cmap="gray", vmin=0, vmax=1)),
            (diff[j], dict(cmap="coolwarm", vmin=-span, vmax=span)),
        ]):
            axes[i, j].imshow(np.asarray(img).reshape(h, w), **kw)
            axes[i, j].axis("off")
    for i, label in enumerate(["original", "UAE", f"difference (max {span:.3g})"]):
        axes[i, 0].set_title(label, fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_scores(summary, metric, path):
    """Mean and standard deviation of the metric per method."""
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
    ax.set_ylabel(metric)
    ax.set_title("held-out metric per augmentation (mean +- std over seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
