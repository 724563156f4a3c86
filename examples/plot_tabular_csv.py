"""
================================================
Tabular data from a CSV file: UAEs and a sampler
================================================

A typical first look at a tabular data set: read a numeric CSV file with
:func:`sk_uae.datasets.load_csv`, fit a small dense autoencoder, make
unsupervised adversarial examples (UAEs) with :class:`sk_uae.UAEGenerator`,
check what they are compared with random noise of the same size, and try
them as training-time augmentation of a classifier with
:class:`sk_uae.UAESampler` in an imbalanced-learn pipeline.

The CSV file is written from scikit-learn's bundled breast cancer data (569
rows, 30 features, two classes) into a temporary folder; with your own data
you would start at ``load_csv``.
"""

# %%
# Write and read the CSV file
# ---------------------------
# ``load_csv`` expects a header row and numeric columns; a column named
# ``label`` (the default of ``label_column``) is returned separately as ``y``.

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from imblearn.pipeline import Pipeline
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from sk_uae import UAEGenerator, UAESampler
from sk_uae.attacks import Duplicate, GaussianNoise, MinMaxMINE
from sk_uae.datasets import load_csv
from sk_uae.models import AutoencoderNet, DenseAutoencoder

data = load_breast_cancer()
table = np.column_stack([data.data, data.target])
header = ",".join(list(data.feature_names) + ["label"])

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "breast_cancer.csv")
    np.savetxt(path, table, delimiter=",", header=header, comments="", fmt="%.8g")
    X, y, feature_names = load_csv(path)

print(X.shape, X.dtype, y.dtype, np.bincount(y))
print(feature_names[:3])

# %%
# Split and scale
# ---------------
# The features are scaled to [0, 1], so the autoencoder's output activation
# (``"auto"``) is a sigmoid; the attacks keep their examples within the range of
# the rows they are fitted on (their default ``clip_values="auto"``). The
# scaler is fitted on the training rows; ``clip=True`` keeps the test rows in
# [0, 1] too.

X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0)
scaler = MinMaxScaler(clip=True).fit(X_train)
Xs_train = scaler.transform(X_train).astype(np.float32)
Xs_test = scaler.transform(X_test).astype(np.float32)

# %%
# Fit an autoencoder and make UAEs
# --------------------------------
# A dense autoencoder with an 8-unit sigmoid code. The attack is
# :class:`sk_uae.attacks.MinMaxMINE` with its default box ``eps=0.3`` (in units
# of each column's range) and normalised step, and 20 iterations instead of 40
# to keep the example short.
# Every test row gets one example; ``return_info=True`` adds per-row
# statistics: ``success`` (an iterate reconstructed the clean row at least as
# well as the row itself did, with a positive MI estimate), the attack's MI
# estimate and the distortions.

autoencoder = AutoencoderNet(DenseAutoencoder, module__hidden_units=8, max_epochs=100,
                             batch_size=64, lr=1e-2,
                             random_state=0)
gen = UAEGenerator(autoencoder, MinMaxMINE(max_iter=20), random_state=0).fit(Xs_train)
ae = gen.estimator_
X_uae, info = gen.generate(Xs_test, return_info=True)

print(f"success rate: {info['success'].mean():.2f}")
print(f"attack's MI estimate (successful rows): {info['mi'][info['success']].mean():.2f}")
print(f"mean L-inf / L2 distortion: {info['distortion_linf'].mean():.4f} / "
      f"{info['distortion_l2'].mean():.4f}")

# %%
# Compare with matched Gaussian noise
# -----------------------------------
# :class:`sk_uae.attacks.GaussianNoise` with ``eps`` rescales every row's
# noise to that L-infinity norm. Matched to the UAEs' mean L-infinity
# distortion, it tells whether the attack found something that noise of the
# same size does not: the attack's goal is ``||x - AE(x')||^2 <= ||x -
# AE(x)||^2``, the autoencoder rebuilds the clean row from the perturbed one at
# least as well as from the row itself.

eps_noise = float(info["distortion_linf"].mean())
noise_gen = UAEGenerator(ae, GaussianNoise(eps=eps_noise), prefit=True,
                         random_state=0).fit(Xs_train)
X_noise = noise_gen.transform(Xs_test)


def recon_error(X_in):
    """Squared error between the clean test rows and the reconstruction of X_in."""
    return ((Xs_test - ae.predict(X_in)) ** 2).sum(axis=1)


err_clean, err_uae, err_noise = (recon_error(A) for A in (Xs_test, X_uae, X_noise))
for name, err, X_adv in (("UAE", err_uae, X_uae), ("noise", err_noise, X_noise)):
    print(f"{name:>5}: goal met on {np.mean(err <= err_clean):.2f} of the rows, "
          f"mean error ratio {np.mean(err / err_clean):.3f}, "
          f"mean L2 distortion {np.linalg.norm(X_adv - Xs_test, axis=1).mean():.4f}")

# %%
# Where do the perturbations go?
# ------------------------------
# Mean absolute perturbation per feature. The noise spreads evenly over the
# features by construction; the UAEs' distribution shows which features the
# attack moved.

order = np.argsort(np.abs(X_uae - Xs_test).mean(axis=0))
pos = np.arange(len(order))
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 6), width_ratios=(3, 2))
ax1.barh(pos - 0.2, np.abs(X_uae - Xs_test).mean(axis=0)[order], height=0.4, label="UAE")
ax1.barh(pos + 0.2, np.abs(X_noise - Xs_test).mean(axis=0)[order], height=0.4,
         label="matched noise")
ax1.set_yticks(pos, [feature_names[i] for i in order], fontsize=7)
ax1.set_xlabel("mean |perturbation| (scaled features)")
ax1.set_title("per feature")
ratios = {"UAE": err_uae / err_clean, "matched noise": err_noise / err_clean}
lo, hi = np.percentile(np.concatenate(list(ratios.values())), [1, 99])
bins = np.linspace(lo, hi, 31)
for name, ratio in ratios.items():
    ax2.hist(np.clip(ratio, lo, hi), bins=bins, alpha=0.7, label=name)
ax2.axvline(1.0, color="k", lw=0.8)
ax2.set_xlabel("||x - AE(x')||^2 / ||x - AE(x)||^2\n(clipped to its 1st-99th percentile)")
ax2.set_ylabel("test rows")
ax2.set_title("reconstruction error ratio")
handles, labels = ax2.get_legend_handles_labels()
fig.legend(handles, labels, loc="upper center", ncol=2)
fig.tight_layout(rect=(0, 0, 1, 0.95))

# %%
# UAEs as training-time augmentation
# ----------------------------------
# :class:`sk_uae.UAESampler` is an imbalanced-learn sampler: inside an
# ``imblearn.pipeline.Pipeline`` it adds examples when the pipeline is
# fitted and is skipped when it predicts. Here half of the training rows
# (``ratio=0.5``) get a UAE with their label copied, and a logistic regression
# is trained on the union. The same pipeline with the
# :class:`sk_uae.attacks.Duplicate` "attack" (exact copies of the same rows)
# and without a sampler are the baselines.


def pipeline(attack=None):
    steps = [("scale", MinMaxScaler(clip=True))]
    if attack is not None:
        steps.append(("uae", UAESampler(autoencoder, attack, ratio=0.5, random_state=0)))
    steps.append(("clf", LogisticRegression(max_iter=5000)))
    return Pipeline(steps)


for name, attack in (("no sampler", None), ("duplicate", Duplicate()),
                     ("UAE", MinMaxMINE(max_iter=20))):
    pipe = pipeline(attack).fit(X_train, y_train)
    extra = ""
    if attack is not None:
        sampler = pipe.named_steps["uae"]
        extra = f" (trained on {len(X_train) + len(sampler.augment_indices_)} rows)"
    print(f"{name:>10}: test accuracy {pipe.score(X_test, y_test):.3f}{extra}")

# %%
# Reading the numbers
# -------------------
# On this run the UAEs meet the attack's goal on no more test rows than
# Gaussian noise of the same L-infinity size (0.35 each) and their mean error
# ratio is the noise's (1.02): with 20 iterations of the default normalised
# step the attack finds no "low-loss" direction that random noise misses on
# this table (with the reference's plain step of 0.01 it did, at a tenth of
# the distortion). The UAEs use part of the box ``eps=0.3``: the normalised
# step moves each row's most sensitive column by a tenth of ``eps`` per
# iteration, and the attack keeps the lowest-MI iterate that meets its goal
# (``docs/results.md`` compares this step with the reference's plain one).
#
# Used as augmentation for a linear classifier, they do not change the test
# accuracy here compared with duplicated rows or no sampler; the library's
# measured comparisons (``docs/results.md``) found UAE augmentation never
# better than the best baseline either. The sampler is mostly a convenient
# way to put any attack of ``sk_uae.attacks`` into an imbalanced-learn
# pipeline.
