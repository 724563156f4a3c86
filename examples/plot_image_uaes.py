"""
===========================================
Unsupervised adversarial examples of images
===========================================

An unsupervised adversarial example (UAE) of an autoencoder is an input
``x'`` close to ``x`` from which the autoencoder rebuilds the *clean* ``x`` at
least as well as from ``x`` itself, while a per-sample mutual-information
estimate (MINE) between ``x`` and ``x'`` is kept low. This example makes UAEs
of scikit-learn's 8x8 digits with :class:`sk_uae.UAEGenerator` and the
MinMax MINE attack, reports what the attack returns, and shows originals,
UAEs, perturbations and reconstructions side by side.

MNIST works the same way from local IDX files:
``X, y = sk_uae.datasets.load_mnist_idx(directory)`` reads
``t10k-images-idx3-ubyte[.gz]`` and its labels from ``directory`` (nothing
is downloaded) and returns flattened float32 images in [0, 1], ready for the
same code; it is not run here, to keep the example fast and offline.
"""

# %%
# Data and autoencoder
# --------------------
# :func:`sk_uae.datasets.load_digits_images` returns the 1,797 digits as
# float32 rows of 64 pixels in [0, 1]. The autoencoder is the paper's sparse
# autoencoder (sigmoid code, KL sparsity penalty), with a 64-unit code, fitted
# on 1,200 rows; 64 other rows are attacked.

import matplotlib.pyplot as plt
import numpy as np

from sk_uae import UAEGenerator
from sk_uae.attacks import MinMaxMINE
from sk_uae.datasets import load_digits_images
from sk_uae.metrics import ssim
from sk_uae.models import AutoencoderNet, SparseAutoencoder

X, y = load_digits_images()
rng = np.random.RandomState(0)
perm = rng.permutation(len(X))
X_fit, X_att = X[perm[:1200]], X[perm[1200:1264]]

ae = AutoencoderNet(SparseAutoencoder, module__hidden_units=64, max_epochs=30, lr=1e-2,
                    random_state=0).fit(X_fit)
print(f"reconstruction MSE of the attacked rows: {np.mean((ae.predict(X_att) - X_att) ** 2):.4f}")

# %%
# Two attack settings
# -------------------
# The library's default :class:`sk_uae.attacks.MinMaxMINE` (box ``eps=0.3`` in
# units of each pixel's range, 40 iterations of a step normalised to a tenth
# of ``eps``), and the reference's plain gradient step of 0.01 in the same
# box. ``prefit=True`` attacks the autoencoder as it is.
# ``return_info=True`` returns per-row arrays: ``success`` (an iterate met the
# goal, reconstruction error not above the clean one, with a positive MI
# estimate), ``mi`` (the attack's own MINE estimate of the returned example),
# ``loss`` and the L-infinity and L2 distortions.

settings = {"default (normalised step)": MinMaxMINE(),
            "plain step 0.01": MinMaxMINE(step="plain", lr=0.01, eps_scale="none")}
results = {}
for name, attack in settings.items():
    gen = UAEGenerator(ae, attack, prefit=True, random_state=0).fit(X_fit)
    X_adv, info = gen.generate(X_att, return_info=True)
    results[name] = X_adv
    ok = info["success"]
    print(f"{name}:")
    print(f"  success rate {ok.mean():.2f}, attack MI of the successes "
          f"{info['mi'][ok].mean():.2f}")
    print(f"  L-inf mean {info['distortion_linf'].mean():.3f} (max "
          f"{info['distortion_linf'].max():.3f}), L2 mean {info['distortion_l2'].mean():.3f}")
    print(f"  SSIM to the originals {ssim(X_att, X_adv, image_shape=(8, 8)):.4f}")
    err_adv = ((X_att - ae.predict(X_adv)) ** 2).sum(1)
    err_ratio = err_adv / ((X_att - ae.predict(X_att)) ** 2).sum(1)
    print(f"  reconstruction error ratio AE(x') / AE(x), successes: {err_ratio[ok].mean():.4f}")

# %%
# Originals, UAEs, perturbations, reconstructions
# -----------------------------------------------
# The first eight attacked digits, with the step-0.1 setting. The perturbation
# ``x' - x`` is drawn on its own colour scale (red up, blue down); in the UAE
# row, on the grey scale of the images, it is hard to see.

X_adv = results["default (normalised step)"]
n_show = 8
rows = [("original x", X_att), ("UAE x'", X_adv), ("x' - x", X_adv - X_att),
        ("AE(x)", ae.predict(X_att)), ("AE(x')", ae.predict(X_adv))]
lim = np.abs(X_adv[:n_show] - X_att[:n_show]).max()
fig, axes = plt.subplots(len(rows), n_show, figsize=(n_show * 0.9 + 1, len(rows) * 1.0 + 0.4),
                         layout="constrained")
for r, (title, images) in enumerate(rows):
    for c in range(n_show):
        ax = axes[r, c]
        if title == "x' - x":
            im = ax.imshow(images[c].reshape(8, 8), cmap="RdBu_r", vmin=-lim, vmax=lim)
        else:
            ax.imshow(images[c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[r, 0].set_ylabel(title, rotation=0, ha="right", va="center")
fig.colorbar(im, ax=axes, shrink=0.3, label="x' - x")
fig.suptitle("UAEs of a sparse autoencoder on digits (eps 0.3, normalised step)")

# %%
# What this shows
# ---------------
# On the successful rows the UAEs are reconstructed slightly better than the
# originals (error ratio below 1) and look like them (SSIM close to 1). With
# the reference's plain step of 0.01 they stay far inside the box
# ``eps=0.3``: the step size, not ``eps``, limits how far 40 iterations move.
# The default normalised step moves them out towards the box, so ``eps``
# decides their size, at the price of fewer successes.
# The MI printed above is the attack's own estimate, from statistics networks
# trained during the attack; it is not an independent measure of similarity.
# An attack-free yardstick is :func:`sk_uae.metrics.mine_similarity` (fresh
# networks trained for every pair); with it, ``docs/results.md`` finds the
# UAEs neither more nor less similar to their originals than Gaussian noise
# of the same size.
